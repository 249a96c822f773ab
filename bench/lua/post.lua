-- POST the user body of the "post" test (same body as bench/workloads.py POST_BODY).
wrk.method = "POST"
wrk.body = '{"name": "Ada Lovelace", "age": 36, "email": "ada@example.com"}'
wrk.headers["Content-Type"] = "application/json"
