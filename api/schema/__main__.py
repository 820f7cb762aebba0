"""``python -m api.schema``: rewrite api/schema.graphql from the code."""

from api.schema import SDL_PATH, sdl

if __name__ == "__main__":
    SDL_PATH.write_text(sdl(), encoding="utf-8")
    print(f"wrote {SDL_PATH}")
