// Label placement without overlaps: candidates come most important first; each takes the
// first free spot beside its node (right, left, above, below) inside the view, or is not
// shown. A label never covers one placed before it, so the important ones always win.

const GAP = 3; // pixels between a node's disc and its label
const PAD = 1; // pixels kept free around every label

export function intersects(a, b) {
  return a.x < b.x + b.width + PAD && b.x < a.x + a.width + PAD
    && a.y < b.y + b.height + PAD && b.y < a.y + a.height + PAD;
}

// candidates: [{node, label, x, y, radius}] in viewport pixels, most important first.
// Returns the boxes placed: {node, label, x, y, width, height} (x, y = top left).
export function placeLabels(candidates, { width, height, size, measure }) {
  const placed = [];
  const lineHeight = Math.ceil(size * 1.25);
  for (const c of candidates) {
    const w = Math.ceil(measure(c.label));
    const spots = [
      { x: c.x + c.radius + GAP, y: c.y - lineHeight / 2 },
      { x: c.x - c.radius - GAP - w, y: c.y - lineHeight / 2 },
      { x: c.x - w / 2, y: c.y - c.radius - GAP - lineHeight },
      { x: c.x - w / 2, y: c.y + c.radius + GAP },
    ];
    for (const spot of spots) {
      const box = { node: c.node, label: c.label, x: spot.x, y: spot.y, width: w, height: lineHeight };
      if (box.x < 0 || box.y < 0 || box.x + w > width || box.y + lineHeight > height) continue;
      if (placed.some((other) => intersects(box, other))) continue;
      placed.push(box);
      break;
    }
  }
  return placed;
}
