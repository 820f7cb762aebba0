// Exchange the API key for the session cookie (JSON POST), then open the explorer.
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const apiKey = document.getElementById("api-key").value.trim();
  const response = await fetch("/explore/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ apiKey }),
    credentials: "same-origin",
  });
  if (response.ok) {
    window.location.assign("/explore");
  } else {
    const body = await response.json().catch(() => ({}));
    error.textContent = body.error || `sign-in failed (${response.status})`;
  }
});
