"""The bound of `make bench`: a bare FastAPI app with one trivial endpoint, served by uvicorn
with the very settings ``user-service serve`` uses (no middleware, no database)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
