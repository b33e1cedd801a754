"""Part 2, exercise 1: greet the name in the query string.

`GET /hello?name=Ada` should answer `Hello, Ada!`; without a name, the
answer stays `Hello, World!`. Change the line marked TODO. Run it with
`cargo run -p part2-exercises --bin exercise -- ex1_hello_name:app`,
check it with
`cargo exercises check part2-ex1-hello-name`.
The book's page "Part 2: Exercises" gives the task, a hint and the
expected replies.
"""


def app(environ, start_response):
    # TODO: take the name from environ["QUERY_STRING"] (`name=Ada`).
    name = "World"
    body = f"Hello, {name}!\n".encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]
