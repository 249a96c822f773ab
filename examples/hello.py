"""The one-file celeris app: `python examples/hello.py`, then open http://127.0.0.1:8000."""

from celeris import App

app = App()


@app.get("/")
async def index() -> str:
    return "Hello, World!"


@app.get("/hello/{name}")
async def hello(name: str, excited: bool = False) -> dict[str, str]:
    return {"message": f"Hello, {name}{'!' if excited else '.'}"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
