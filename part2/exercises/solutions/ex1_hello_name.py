"""Part 2, exercise 1, a solution: greet the name in the query string.

Run it with
`cargo run -p part2-exercises --bin solution -- ex1_hello_name:app`.
"""
from urllib.parse import parse_qs


def app(environ, start_response):
    # ANCHOR: solution
    # parse_qs splits `name=Ada&x=1` and undoes the %-escapes (as UTF-8):
    # {"name": ["Ada"], "x": ["1"]}. A name may be given twice: the first.
    query = parse_qs(environ["QUERY_STRING"])
    name = query.get("name", ["World"])[0]
    # ANCHOR_END: solution
    body = f"Hello, {name}!\n".encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]
