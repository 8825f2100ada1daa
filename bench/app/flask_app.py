"""The classic tutorial's Flask app, as a benchmark peer for the application server.

Run under gunicorn by bench/app/run.sh:

    BENCH_SITE=.../index.html BENCH_DB=.../flask.db \
        gunicorn --workers 1 -k gthread --threads 4 --log-level warning flask_app:app

Routes, as in the tutorial (Flask's own "flaskr" for the users, the session and the database):
- GET  /add?a=5&b=3            -> "8"
- POST /api/process            -> {"result": sum of "input"}
- GET  /index.html             -> the static page, with send_file
- POST /api/users              -> 201, or 409 if the name is taken (password hashed by werkzeug)
- POST /login                  -> signs in: the user's id in Flask's signed session cookie
- GET  /api/profile            -> the signed-in user as JSON, 401 otherwise; like flaskr, the
                                  user is loaded from SQLite on every request that carries a
                                  session
- GET  /healthz                -> {"status": "ok"}

No per-request log: Flask writes none, and gunicorn has no access log unless asked.
"""
import functools
import os
import sqlite3

from flask import Flask, g, jsonify, request, send_file, session
from werkzeug.security import check_password_hash, generate_password_hash

SITE = os.environ.get(
    "BENCH_SITE",
    os.path.join(os.path.dirname(__file__), "..", "..", "crates", "app", "site", "index.html"),
)
DATABASE = os.environ.get("BENCH_DB", "flask.db")

app = Flask(__name__)
# Fixed so that every gunicorn worker signs sessions alike; a benchmark, not a deployment.
app.secret_key = os.environ.get("BENCH_SECRET_KEY", "benchmark only, not a secret")


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(DATABASE)
        g.db.row_factory = sqlite3.Row
    return g.db


@app.teardown_appcontext
def close_db(_exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db():
    db = sqlite3.connect(DATABASE)
    db.execute(
        "CREATE TABLE IF NOT EXISTS user ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " username TEXT UNIQUE NOT NULL,"
        " password TEXT NOT NULL)"
    )
    db.commit()
    db.close()


init_db()


@app.before_request
def load_logged_in_user():
    user_id = session.get("user_id")
    if user_id is None:
        g.user = None
    else:
        g.user = get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            return jsonify(error="not signed in"), 401
        return view(**kwargs)

    return wrapped


@app.route("/add")
def add():
    a = request.args.get("a", type=int)
    b = request.args.get("b", type=int)
    return str(a + b)


@app.route("/api/process", methods=["POST"])
def process():
    data = request.get_json()
    return jsonify(result=sum(data["input"]))


@app.route("/index.html")
def index():
    return send_file(SITE)


@app.route("/healthz")
def healthz():
    return jsonify(status="ok")


@app.route("/api/users", methods=["POST"])
def register():
    data = request.get_json()
    db = get_db()
    try:
        db.execute(
            "INSERT INTO user (username, password) VALUES (?, ?)",
            (data["username"], generate_password_hash(data["password"])),
        )
        db.commit()
    except db.IntegrityError:
        return jsonify(error=f"user {data['username']} is already registered"), 409
    return jsonify(user={"username": data["username"]}), 201


@app.route("/login", methods=["POST"])
def login():
    data = request.get_json()
    user = get_db().execute(
        "SELECT * FROM user WHERE username = ?", (data["username"],)
    ).fetchone()
    if user is None or not check_password_hash(user["password"], data["password"]):
        return jsonify(error="incorrect username or password"), 401
    session.clear()
    session["user_id"] = user["id"]
    return jsonify(user={"id": user["id"], "username": user["username"]})


@app.route("/api/profile")
@login_required
def profile():
    return jsonify(user={"id": g.user["id"], "username": g.user["username"]})
