-- wrk -s: POST /api/process with a small JSON body (the URL names the path).
wrk.method = "POST"
wrk.body = '{"input": [1, 2, 3]}'
wrk.headers["Content-Type"] = "application/json"
