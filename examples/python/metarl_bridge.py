#!/usr/bin/env python3
"""Serve a Gymnasium-style Python environment to the metarl agent over ``metarl-bridge/1``.

One file: the standard library plus ``websockets`` >= 10.1 (Debian/Ubuntu: ``apt-get install
python3-websockets``; elsewhere ``pip install websockets``). numpy is optional: numpy values are
accepted from the env, and a gymnasium ``Box`` action space gets numpy actions.

The agent drives a *vector env*: ``num`` copies of your env, each built by ``factory()``, stepped
in lock step. An env has ``reset(seed=None, options=None) -> (obs, info)``, ``step(action) ->
(obs, reward, terminated, truncated, info)``, Box ``observation_space`` / ``action_space``
(gymnasium's, or ``{"low", "high", "shape"}``), a ``task_space`` (JSON the agent samples tasks
from, e.g. ``{"goal": {"low": [-0.5, -0.5], "high": [0.5, 0.5]}}``) or a ``sample_tasks(n, rng)``,
``set_task(task)`` (else the task goes to ``reset(options={"task": task})``) and a time limit
(``max_episode_steps`` or ``spec.max_episode_steps``). examples/python/README.md has the details.

Protocol flow (docs/bridge-protocol.md; the simulator, i.e. this adapter, always speaks first):

    adapter -> hello {protocol, version 1, num, observationSpace, actionSpace, maxEpisodeSteps,
                      tasks, binary, name, nonce (with a token)}
    agent   -> welcome {binary, nonce (with a token)}        or refused {code, message} + close
    with a token, both sides prove it, the dialling side first (the token itself is never sent):
               auth {proof = hex HMAC-SHA256(token, "metarl-bridge/1 auth ROLE HELLO_NONCE WELCOME_NONCE")}
    agent   -> set_tasks {id, tasks[num]} | reset {id, seed?} | step {id, actions[num*actDim]} | stop {id}
    adapter -> ok | obs | step_result (JSON, or binary frames once agreed) | error {id, code, message}
    agent   -> close                                          (the adapter closes the connection, 1000)

Requests are served one at a time, in arrival order. Malformed or out-of-order messages are
answered with ``error`` when they carry an id, otherwise dropped; either way counted. Copy i is
reset with the agent's ``deriveSeed(seed, i)``; a copy whose episode ended (terminated, or
truncated at the time limit) holds still, reward 0, until the next reset.

Use:

    python3 metarl_bridge.py --module point_env:make_env --port 8765            # then the agent dials:
    npx metarl train --env ws://127.0.0.1:8765
    npx metarl serve --port 8766                                                # or the agent listens
    python3 metarl_bridge.py --module point_env:make_env --connect ws://127.0.0.1:8766

    from metarl_bridge import serve
    serve(make_env, num=20, port=8765)

With ``--port 0`` the first line on stdout is the URL listened on; logs go to stderr. The shared
token comes from ``--token-file FILE`` (first line) or ``METARL_TOKEN``, never from argv.
Exit codes: 0 done, 1 connection failed or refused, 2 bad option or env.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import importlib
import importlib.util
import json
import math
import os
import random
import re
import secrets
import signal
import struct
import sys
import traceback
from array import array
from concurrent.futures import ThreadPoolExecutor

try:
    import websockets
except ImportError:  # reported by serve(), so that the module stays importable
    websockets = None

PROTOCOL, VERSION = "metarl-bridge", 1
MAX_MESSAGE_BYTES = 1 << 20
MAX_COPIES, MAX_SPACE = 4096, 65536
CLOSE_NORMAL, CLOSE_UNAUTHORIZED, CLOSE_HANDSHAKE = 1000, 4001, 4003
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
FRAME = struct.Struct("<4sBBHIHH")  # magic "MRLB", version, kind, reserved, id, n, dim: 16 bytes
FRAME_STEP, FRAME_STEP_RESULT, FRAME_OBS = 1, 2, 3
REQUESTS = ("set_tasks", "reset", "step", "stop")
AGENT_TYPES = ("welcome", "auth", "refused", *REQUESTS, "close")
M32 = 0xFFFFFFFF


class Refusal(Exception):
    """A message or request this adapter cannot accept; answered with ``error`` if it has an id."""

    def __init__(self, code: str, message: str, id: int | None = None):
        super().__init__(message)
        self.code, self.id = code, id


# ---- seeds (src/core/rng.ts) -----------------------------------------------------------------

def _splitmix32(s: int) -> tuple[int, int]:
    s = (s + 0x9E3779B9) & M32
    z = ((s ^ (s >> 16)) * 0x85EBCA6B) & M32
    z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
    return s, (z ^ (z >> 16)) & M32


def derive_seed(seed: int, index: int) -> int:
    """Seed of copy ``index`` of a vector env reset with ``seed``: the agent's deriveSeed."""
    s, _ = _splitmix32((seed & M32) ^ (((index + 1) * 0x27D4EB2D) & M32))
    return _splitmix32(s)[1]


# ---- values, spaces, tasks ---------------------------------------------------------------------

def flat_floats(x) -> list[float]:
    """Floats of a scalar, a (nested) list or tuple, or a numpy array, in row-major order."""
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in flat_floats(item)]
    return [float(x)]


def box_json(space, what: str) -> dict:
    """A Box (gymnasium's, or a dict of low/high/shape; scalar bounds broadcast) as the hello's JSON."""
    get = space.get if isinstance(space, dict) else (lambda k: getattr(space, k, None))
    low, high, shape = get("low"), get("high"), get("shape")
    if low is None or high is None:
        raise ValueError(f"{what}: expected a Box with low, high and shape, got {type(space).__name__} "
                         "(only continuous Box spaces travel over metarl-bridge/1)")
    shape = [int(d) for d in (shape if shape is not None else [len(flat_floats(low))])]
    size = math.prod(shape)
    if not (1 <= len(shape) <= 8 and min(shape) >= 1 and size <= MAX_SPACE):
        raise ValueError(f"{what}: shape {shape} must have 1 to 8 positive dimensions and at most {MAX_SPACE} entries")
    bounds = []
    for name, b in (("low", low), ("high", high)):
        xs = flat_floats(b)
        xs = xs * size if len(xs) == 1 else xs
        if len(xs) != size or any(math.isnan(v) for v in xs):
            raise ValueError(f"{what}.{name}: needs {size} numbers (or one for all), got {len(xs)}")
        bounds.append(["inf" if v == math.inf else "-inf" if v == -math.inf else v for v in xs])
    if any(not _num(lo) <= _num(hi) for lo, hi in zip(*bounds)):
        raise ValueError(f"{what}: low <= high fails")
    return {"low": bounds[0], "high": bounds[1], "shape": shape}


def _num(bound) -> float:
    return math.inf if bound == "inf" else -math.inf if bound == "-inf" else bound


def check_task_space(space) -> None:
    """Raises ValueError naming the field unless ``space`` is a valid TaskSpace (src/bridge/taskSpace.ts)."""
    if not isinstance(space, dict) or len(space) > 32:
        raise ValueError("task space: expected an object of up to 32 fields")
    for name, f in space.items():
        ok = isinstance(f, dict) and 1 <= len(name) <= 64
        if ok and set(f) == {"choices"}:
            ok = isinstance(f["choices"], list) and 1 <= len(f["choices"]) <= 1024
        elif ok and set(f) == {"low", "high"}:
            lo, hi = ([f[k]] if _is_num(f[k]) else f[k] for k in ("low", "high"))
            ok = (isinstance(lo, list) and isinstance(hi, list) and 1 <= len(lo) == len(hi) <= 64
                  and all(_is_num(v) and math.isfinite(v) for v in lo + hi)
                  and all(a <= b for a, b in zip(lo, hi)) and _is_num(f["low"]) == _is_num(f["high"]))
        else:
            ok = False
        if not ok:
            raise ValueError(f"task space.{name}: expected {{low, high}} (finite numbers, or lists of up to 64, low <= high) or {{choices: [1 to 1024 values]}}")


def task_in_space(space: dict, task) -> bool:
    """Whether ``task`` could have been drawn from ``space`` (every field present and in range)."""
    if not isinstance(task, dict):
        return False
    for name, f in space.items():
        v = task.get(name)
        if "choices" in f:
            if not any(json.dumps(c, sort_keys=True) == json.dumps(v, sort_keys=True) for c in f["choices"]):
                return False
            continue
        lo = [f["low"]] if _is_num(f["low"]) else f["low"]
        hi = [f["high"]] if _is_num(f["high"]) else f["high"]
        xs = [v] if _is_num(f["low"]) else v
        if not (isinstance(xs, list) and len(xs) == len(lo) and all(_is_num(x) and a <= x <= b for x, a, b in zip(xs, lo, hi))):
            return False
    return True


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()


def _is_id(v) -> bool:
    return _is_int(v) and 1 <= v <= M32


def _jsonable(x):
    """``x`` as plain JSON values (numpy arrays and scalars become lists and numbers)."""
    return json.loads(json.dumps(x, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _attr(env, name: str):
    """``env.name``, or the unwrapped env's (gymnasium wrappers no longer forward attributes)."""
    for obj in (env, getattr(env, "unwrapped", env)):
        if hasattr(type(obj), name) or name in getattr(obj, "__dict__", {}):
            return getattr(obj, name)
    return None


# ---- what the hello announces ------------------------------------------------------------------

class Served:
    """The env served and what the hello says about it, read once from one env built for the purpose."""

    def __init__(self, factory, num=20, task_space=None, max_episode_steps=None, name=None, pool=1024, binary=True, hardware=False):
        if not (isinstance(num, int) and 1 <= num <= MAX_COPIES):
            raise ValueError(f"num must be an integer in [1, {MAX_COPIES}], got {num!r}")
        self.factory, self.num, self.hardware = factory, num, hardware
        env = factory()
        try:
            self.obs_space = box_json(_attr(env, "observation_space"), "observation_space")
            act = _attr(env, "action_space")
            self.act_space = box_json(act, "action_space")
            self.numpy_actions = hasattr(act, "dtype") and not isinstance(act, dict)
            self.act_dtype = getattr(act, "dtype", None)
            self.pooled = False
            if task_space is None:
                task_space = _attr(env, "task_space")
            if task_space is None:
                sampler = _attr(env, "sample_tasks")
                if sampler is None:
                    raise ValueError("no task distribution: give the env a task_space (JSON) or sample_tasks(n, rng), or pass task_space=")
                task_space, self.pooled = {"task": {"choices": _jsonable(sampler(pool, random.Random(0)))}}, True
            self.task_space = _jsonable(task_space)  # numpy numbers become plain ones
            check_task_space(self.task_space)
            steps = max_episode_steps or getattr(getattr(env, "spec", None), "max_episode_steps", None) or _attr(env, "max_episode_steps")
            if not (_is_int(steps) and 1 <= steps <= 1e9):
                raise ValueError(f"max_episode_steps must be an integer in [1, 1e9], got {steps!r} (pass --max-episode-steps)")
            self.max_steps = int(steps)
            self.name = (name or type(getattr(env, "unwrapped", env)).__name__)[:240] + f"×{num}"
        finally:
            _close(env)
        self.obs_size = math.prod(self.obs_space["shape"])
        self.act_size = math.prod(self.act_space["shape"])
        self.act_low = [_num(v) for v in self.act_space["low"]]
        self.act_high = [_num(v) for v in self.act_space["high"]]
        # Frame headers hold n and dim as u16.
        self.binary = binary and max(self.obs_size, self.act_size) <= 0xFFFF

    def hello(self, nonce: str | None) -> dict:
        msg = {"type": "hello", "protocol": PROTOCOL, "version": VERSION, "num": self.num,
               "observationSpace": self.obs_space, "actionSpace": self.act_space,
               "maxEpisodeSteps": self.max_steps, "tasks": self.task_space, "binary": self.binary, "name": self.name}
        return {**msg, **({"nonce": nonce} if nonce else {}), **({"hardware": True} if self.hardware else {})}


def _close(env) -> None:
    if callable(getattr(env, "close", None)):
        env.close()


class Copies:
    """``num`` envs in lock step with the protocol's step semantics; called from one worker thread."""

    def __init__(self, served: Served):
        self.s = served
        self.envs = [served.factory() for _ in range(served.num)]
        self.reset_tasks = [None] * served.num  # for envs without set_task: reset(options={"task": …})
        self.done = [True] * served.num
        self.t = [0] * served.num
        self.obs = [[0.0] * served.obs_size for _ in range(served.num)]
        self.reset_done = False

    def set_tasks(self, tasks: list) -> None:
        for i, task in enumerate(tasks):
            if not task_in_space(self.s.task_space, task):
                raise Refusal("bad_request", f"set_tasks: task {i} {json.dumps(task)[:200]} is not in the announced task space")
        for i, (env, task) in enumerate(zip(self.envs, tasks)):
            task = task["task"] if self.s.pooled else task
            setter = _attr(env, "set_task")
            if setter is None:
                self.reset_tasks[i] = task
                continue
            try:
                setter(task)
            except (ValueError, TypeError, KeyError) as e:
                raise Refusal("bad_request", f"set_tasks: copy {i} refused its task: {e}") from e

    def reset(self, seed: int | None) -> list[float]:
        for i, env in enumerate(self.envs):
            options = {"task": self.reset_tasks[i]} if self.reset_tasks[i] is not None else None
            out = env.reset(seed=None if seed is None else derive_seed(seed, i), options=options)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("reset must return (obs, info) (the Gymnasium API)")
            self.obs[i] = self._obs(out[0], i)
            self.done[i], self.t[i] = False, 0
        self.reset_done = True
        return [v for row in self.obs for v in row]

    def step(self, actions: list[float]):
        a, reward = self.s.act_size, [0.0] * self.s.num
        terminated, truncated = [False] * self.s.num, [False] * self.s.num
        for i, env in enumerate(self.envs):
            if self.done[i]:
                continue  # ended: holds still until the next reset
            row = [min(max(x, lo), hi) for x, lo, hi in zip(actions[i * a:(i + 1) * a], self.s.act_low, self.s.act_high)]
            out = env.step(self._action(row))
            if not (isinstance(out, tuple) and len(out) == 5):
                raise TypeError("step must return (obs, reward, terminated, truncated, info) (the Gymnasium API)")
            self.obs[i], reward[i] = self._obs(out[0], i), float(out[1])
            self.t[i] += 1
            terminated[i] = bool(out[2])
            truncated[i] = bool(out[3]) or (not terminated[i] and self.t[i] >= self.s.max_steps)
            self.done[i] = terminated[i] or truncated[i]
        return [v for row in self.obs for v in row], reward, terminated, truncated

    def _action(self, row: list[float]):
        if self.s.numpy_actions:
            import numpy as np  # a gymnasium Box means numpy is there
            return np.asarray(row, dtype=self.s.act_dtype).reshape(self.s.act_space["shape"])
        shape = self.s.act_space["shape"]
        for d in reversed(shape[1:]):  # nested lists for multi-dimensional spaces
            row = [row[k:k + d] for k in range(0, len(row), d)]
        return row

    def _obs(self, obs, i: int) -> list[float]:
        xs = flat_floats(obs)
        if len(xs) != self.s.obs_size:
            raise ValueError(f"copy {i} returned an observation of {len(xs)} entries; the observation space has {self.s.obs_size}")
        return xs

    def close(self) -> None:
        for env in self.envs:
            try:
                _close(env)
            except Exception:  # closing the others matters more
                traceback.print_exc()


# ---- messages -----------------------------------------------------------------------------------

def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_agent_message(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> dict:
    """A validated agent → simulator JSON message, or Refusal(code, reason, id if one was usable)."""
    size = len(text.encode())
    if size > max_bytes:
        raise Refusal("too_large", f"message of {size} bytes exceeds the limit of {max_bytes}")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise Refusal("bad_json", f"not JSON: {e}") from None
    rid = raw.get("id") if isinstance(raw, dict) and _is_id(raw.get("id")) else None
    rid = None if rid is None else int(rid)
    if not isinstance(raw, dict):
        raise Refusal("bad_message", f"expected a JSON object, got {type(raw).__name__}")
    t = raw.get("type")
    if t not in AGENT_TYPES:
        shown = repr(t[:40]) if isinstance(t, str) else str(t)
        raise Refusal("unknown_type", f"unknown message type {shown} from the agent; expected one of {', '.join(AGENT_TYPES)}", rid)

    def need(field, ok, expected, optional=False):
        if field in raw and ok(raw[field]) or optional and field not in raw:
            return
        raise Refusal("bad_message", f"{t}.{field}: expected {expected}", rid)

    is_str = lambda n: lambda v: isinstance(v, str) and len(v) <= n  # noqa: E731
    hex64 = lambda v: isinstance(v, str) and HEX64.match(v) is not None  # noqa: E731
    if t in REQUESTS:
        need("id", _is_id, "an integer in [1, 2^32)")
    if t == "welcome":
        need("protocol", lambda v: v == PROTOCOL, f'"{PROTOCOL}"')
        need("version", lambda v: _is_int(v) and v == VERSION, str(VERSION))
        need("binary", lambda v: isinstance(v, bool), "a boolean")
        need("nonce", hex64, "64 lowercase hex digits", optional=True)
        need("token", is_str(1024), "a string", optional=True)
    elif t == "auth":
        need("proof", hex64, "64 lowercase hex digits")
    elif t == "refused":
        need("code", is_str(64), "a string of up to 64 characters")
        need("message", is_str(4096), "a string of up to 4096 characters")
    elif t == "set_tasks":
        need("tasks", lambda v: isinstance(v, list) and 1 <= len(v) <= MAX_COPIES, f"a list of 1 to {MAX_COPIES} tasks")
    elif t == "reset":
        need("seed", lambda v: _is_int(v) and abs(v) <= 2**53 - 1, "a safe integer", optional=True)
    elif t == "step":
        need("actions", lambda v: isinstance(v, list) and 1 <= len(v) <= MAX_COPIES * MAX_SPACE and all(map(_is_num, v)), "a list of numbers")
    if t == "reset" and "seed" in raw:
        raw["seed"] = int(raw["seed"])
    return {**raw, "id": rid} if rid is not None else raw


def decode_step_frame(data: bytes, served: Served, agreed: bool) -> tuple[int, list[float]]:
    """(id, actions) of a binary step frame (docs/bridge-protocol.md §5), or Refusal."""
    if len(data) < FRAME.size:
        raise Refusal("bad_message", f"frame of {len(data)} bytes is shorter than the 16-byte header")
    magic, version, kind, reserved, fid, n, dim = FRAME.unpack_from(data)
    if magic != b"MRLB":
        raise Refusal("bad_message", 'frame does not start with the magic "MRLB"')
    rid = fid or None
    payload = {FRAME_STEP: 4 * n * dim, FRAME_OBS: 4 * n * dim, FRAME_STEP_RESULT: 4 * n * dim + 6 * n}.get(kind)
    problem = (f"frame version {version} is not 1" if version != 1 else f"unknown frame kind {kind}" if payload is None
               else "reserved header bytes 6-7 are not zero" if reserved else "frame id 0 is not a valid request id" if not fid
               else f"frame has n = {n} and dim = {dim}; both must be at least 1" if not n or not dim
               else f"frame for n = {n}, dim = {dim} must be {FRAME.size + payload} bytes, got {len(data)}" if len(data) != FRAME.size + payload
               else None)
    if problem:
        raise Refusal("bad_message", problem, rid)
    if not agreed:
        raise Refusal("bad_state", "binary frame before binary frames were agreed in the welcome", rid)
    if kind != FRAME_STEP:
        raise Refusal("bad_request", "only step frames go from agent to simulator", rid)
    if n != served.num or dim != served.act_size:
        raise Refusal("bad_request", f"step frame for n = {n}, dim = {dim}; this simulator has n = {served.num}, action dim {served.act_size}", rid)
    return fid, _f32_from_bytes(data[FRAME.size:])


def _f32_from_bytes(b: bytes) -> list[float]:
    a = array("f")
    a.frombytes(b)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tolist()


def encode_frame(kind: int, rid: int, n: int, dim: int, floats: list[float], flags: bytes = b"") -> bytes:
    """A binary reply: header, float32 payload (little-endian; overflow becomes ±inf), flag bytes."""
    a = array("f", floats)
    if sys.byteorder == "big":
        a.byteswap()
    return FRAME.pack(b"MRLB", 1, kind, 0, rid, n, dim) + a.tobytes() + flags


def _json_floats(xs: list[float]) -> list:
    return [x if math.isfinite(x) else None for x in xs]  # null = NaN or ±Infinity


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def peer_text(text: str, limit: int = 1000) -> str:
    """The agent's text for a terminal: control and bidi characters escaped, length capped."""
    s = _CONTROL.sub(lambda c: ascii(c.group())[1:-1], text)
    return s if len(s) <= limit else s[:limit] + "…"


def _close_reason(text: str) -> str:
    """A close reason within the WebSocket limit of 123 bytes."""
    return text.encode()[:123].decode(errors="ignore")


def auth_proof(token: str, role: str, hello_nonce: str, welcome_nonce: str) -> str:
    msg = f"{PROTOCOL}/{VERSION} auth {role} {hello_nonce} {welcome_nonce}"
    return hmac.new(token.encode(), msg.encode(), hashlib.sha256).hexdigest()


# ---- one connection ---------------------------------------------------------------------------

class Session:
    """The adapter's side of one connection: hello, welcome (and auth), then requests in order."""

    def __init__(self, ws, served: Served, stats: dict, *, dialled: bool, token=None, max_bytes=MAX_MESSAGE_BYTES,
                 welcome_timeout=5.0, on_stop=None, log=None):
        self.ws, self.s, self.stats, self.dialled, self.token = ws, served, stats, dialled, token
        self.max_bytes, self.welcome_timeout, self.on_stop = max_bytes, welcome_timeout, on_stop
        self.log = log or (lambda line: None)
        self.binary = False
        self.refused: str | None = None  # the agent's reason when it refused us
        self.copies: Copies | None = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="metarl-env")  # one env thread per connection

    async def run(self) -> None:
        self.stats["connections"] += 1
        try:
            if not await self._handshake():
                return
            try:  # the envs are built only once the agent is through the handshake
                self.copies = await self._in_env_thread(Copies, self.s)
            except Exception as e:
                traceback.print_exc()
                why = f"the simulator could not build its env: {type(e).__name__}: {e}"
                await self._send_json({"type": "error", "code": "sim_error", "message": why[:4000]})
                return await self.ws.close(1011, _close_reason(why))
            self.stats["envs_built"] += 1
            async for data in self.ws:
                if await self._handle(data):
                    break
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.copies is not None:
                await self._in_env_thread(self.copies.close)
            self.pool.shutdown(wait=False)

    async def _handshake(self) -> bool:
        loop = asyncio.get_running_loop()
        hello_nonce = secrets.token_hex(32) if self.token else None
        welcome_nonce = None
        await self._send_json(self.s.hello(hello_nonce))
        deadline = loop.time() + self.welcome_timeout
        while True:
            try:
                data = await asyncio.wait_for(self.ws.recv(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                await self.ws.close(CLOSE_HANDSHAKE, f"no welcome within {self.welcome_timeout * 1000:.0f} ms")
                return False
            try:
                if isinstance(data, bytes):
                    decode_step_frame(data, self.s, agreed=False)  # raises, with the id when it has one
                m = parse_agent_message(data, self.max_bytes)
                t = m["type"]
                if t in ("refused", "close"):
                    return await self._closing(m)
                if t in REQUESTS:
                    raise Refusal("bad_state", f"{t} before the handshake completed (welcome, and auth with a token)", m["id"])
                if t == "welcome" and welcome_nonce is None:
                    self.binary = m["binary"] and self.s.binary
                    if not self.token:
                        if "nonce" in m:
                            self.log("the agent has a token and this adapter none: set METARL_TOKEN or --token-file")
                        return True
                    if "nonce" not in m:
                        return await self._unauthorized("agent presented no token" if "token" not in m else
                                                        "agent sent its token in clear text (an agent from before challenge-response authentication); update it")
                    welcome_nonce = m["nonce"]
                    if self.dialled:  # the dialling side proves first
                        await self._send_json({"type": "auth", "proof": auth_proof(self.token, "simulator", hello_nonce, welcome_nonce)})
                elif t == "auth" and welcome_nonce is not None:
                    if not hmac.compare_digest(m["proof"], auth_proof(self.token, "agent", hello_nonce, welcome_nonce)):
                        return await self._unauthorized("agent presented a wrong token")
                    if not self.dialled:  # a listener proves itself only to an agent that already proved
                        await self._send_json({"type": "auth", "proof": auth_proof(self.token, "simulator", hello_nonce, welcome_nonce)})
                    return True
                else:
                    raise Refusal("bad_state", f"{t} out of place in the handshake")
            except Refusal as r:
                await self._reject(r)

    async def _handle(self, data) -> bool:
        """Serves one message; True when the connection is to end."""
        rid = None
        try:
            if isinstance(data, bytes):
                rid, actions = decode_step_frame(data, self.s, agreed=self.binary)
                m = {"type": "step", "id": rid, "actions": actions}
            else:
                m = parse_agent_message(data, self.max_bytes)
            t, rid = m["type"], m.get("id")
            if t in ("refused", "close"):
                await self._closing(m)
                return True
            if t not in REQUESTS:
                raise Refusal("bad_state", f"{t} after the handshake")
            try:
                await self._reply(rid, await getattr(self, "_" + t)(m))
            except (Refusal, websockets.ConnectionClosed):
                raise
            except Exception as e:  # the env failed: tell the agent, keep serving
                traceback.print_exc()
                code = "numeric" if isinstance(e, FloatingPointError) else "sim_error"
                await self._send_json({"type": "error", "id": rid, "code": code, "message": f"{t} failed: {type(e).__name__}: {e}"[:4000]})
        except Refusal as r:
            r.id = rid if r.id is None else r.id  # refused by the env copies (an invalid task): answer the request
            await self._reject(r)
        return False

    async def _in_env_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def _set_tasks(self, m: dict):
        if len(m["tasks"]) != self.s.num:
            raise Refusal("bad_request", f"set_tasks: got {len(m['tasks'])} tasks for {self.s.num} copies")
        await self._in_env_thread(self.copies.set_tasks, m["tasks"])
        return {"type": "ok", "id": m["id"]}

    async def _reset(self, m: dict):
        obs = await self._in_env_thread(self.copies.reset, m.get("seed"))
        if self.binary:
            return encode_frame(FRAME_OBS, m["id"], self.s.num, self.s.obs_size, obs)
        return {"type": "obs", "id": m["id"], "obs": _json_floats(obs)}

    async def _step(self, m: dict):
        n, a = self.s.num, self.s.act_size
        if len(m["actions"]) != n * a:
            raise Refusal("bad_request", f"step: expected {n * a} action entries ({n} × {a}), got {len(m['actions'])}")
        if not self.copies.reset_done:
            raise Refusal("bad_state", "step before the first reset")
        try:  # as the agent's float32 values: 1e39 becomes inf
            actions = array("f", m["actions"]).tolist()
        except OverflowError:  # an integer beyond any float
            actions = [math.inf]
        bad = next((k for k, x in enumerate(actions) if not math.isfinite(x)), None)
        if bad is not None:
            raise Refusal("numeric", f"step: action entry {bad} is {actions[bad]} (as float32)")
        obs, reward, term, trunc = await self._in_env_thread(self.copies.step, actions)
        if self.binary:
            flags = bytes(map(int, term)) + bytes(map(int, trunc))
            return encode_frame(FRAME_STEP_RESULT, m["id"], n, self.s.obs_size, obs + reward, flags)
        return {"type": "step_result", "id": m["id"], "obs": _json_floats(obs), "reward": _json_floats(reward), "terminated": term, "truncated": trunc}

    async def _stop(self, m: dict):
        self.stats["stops"] += 1
        if self.on_stop is not None:
            await self._in_env_thread(self.on_stop, self.copies.envs)
        return {"type": "ok", "id": m["id"]}

    async def _reply(self, rid: int, reply) -> None:
        data = reply if isinstance(reply, bytes) else json.dumps(reply, separators=(",", ":"), allow_nan=False)
        size = len(data) if isinstance(data, bytes) else len(data.encode())
        if size > self.max_bytes:  # the agent would close the connection over it
            await self._send_json({"type": "error", "id": rid, "code": "too_large", "message": f"reply of {size} bytes exceeds the limit of {self.max_bytes}"})
        else:
            self.stats["requests"] += 1
            await self.ws.send(data)

    async def _send_json(self, msg: dict) -> None:
        await self.ws.send(json.dumps(msg, separators=(",", ":"), allow_nan=False))

    async def _reject(self, r: Refusal) -> None:
        self.stats["rejected"] += 1
        if r.id is not None:
            await self._send_json({"type": "error", "id": r.id, "code": r.code, "message": str(r)[:4096]})

    async def _unauthorized(self, reason: str) -> bool:
        self.stats["refused"] += 1
        self.refused = reason
        self.log(f"refused an agent: {reason}")
        await self._send_json({"type": "error", "code": "unauthorized", "message": reason})
        await self.ws.close(CLOSE_UNAUTHORIZED, _close_reason(reason))
        return False

    async def _closing(self, m: dict) -> bool:
        if m["type"] == "refused":
            self.stats["refused"] += 1
            self.refused = peer_text(f"[{m['code']}] {m['message']}")
            self.log(f"the agent refused this simulator: {self.refused}")
        await self.ws.close(CLOSE_NORMAL, "refused by the agent" if m["type"] == "refused" else "agent asked to close")
        return False


# ---- serving --------------------------------------------------------------------------------------

def serve(factory, **options) -> dict:
    """Serves ``factory``'s env until interrupted (listening) or until the connection ends (``connect=``).

    Options: num=20 copies per connection; host="127.0.0.1", port=8765 (0: any free port) to listen,
    or connect="ws://host:port" to dial an agent that listens (``metarl serve``); token (shared
    secret, proved by HMAC and never sent); binary=True (offer binary frames); task_space (JSON,
    else the env's task_space or sample_tasks); max_episode_steps; name; pool=1024 (tasks drawn
    from sample_tasks); max_message_bytes=1 MiB; welcome_timeout=5 s; hardware=False (announce a
    real robot: the agent stops it at once on Ctrl-C); on_stop(envs) (called on the agent's
    ``stop``: bring the system to its safe state); on_listening(url); log(line).
    Returns the counters (connections, requests, rejected, refused, stops, envs_built); raises
    RuntimeError when the connection cannot be made or the agent refused this simulator.
    """
    return asyncio.run(serve_async(factory, **options))


async def serve_async(factory, *, num=20, host="127.0.0.1", port=8765, connect=None, token=None, binary=True,
                      task_space=None, max_episode_steps=None, name=None, pool=1024, max_message_bytes=MAX_MESSAGE_BYTES,
                      welcome_timeout=5.0, hardware=False, on_stop=None, on_listening=None, log=None) -> dict:
    """serve() inside a running event loop."""
    if websockets is None:
        raise RuntimeError("the websockets package is missing: apt-get install python3-websockets (Debian/Ubuntu) or pip install websockets")
    log = log or (lambda line: print(f"metarl_bridge: {line}", file=sys.stderr, flush=True))
    served = Served(factory, num, task_space, max_episode_steps, name, pool, binary, hardware)
    stats = dict.fromkeys(("connections", "requests", "rejected", "refused", "stops", "envs_built"), 0)
    session_options = dict(token=token or None, max_bytes=max_message_bytes, welcome_timeout=welcome_timeout, on_stop=on_stop, log=log)
    ws_options = dict(max_size=max_message_bytes, ping_interval=None, compression=None)
    if connect is not None:
        try:
            ws = await websockets.connect(connect, open_timeout=welcome_timeout, **ws_options)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException, ValueError) as e:
            raise RuntimeError(f"cannot connect to {connect}: {e or type(e).__name__}") from None
        session = Session(ws, served, stats, dialled=True, **session_options)
        _on_signals(lambda: asyncio.ensure_future(ws.close()))  # Ctrl-C / SIGTERM: hang up, close the envs
        try:
            await session.run()
        finally:
            await ws.close()
        if session.refused is not None:
            raise RuntimeError(f"agent at {connect} refused this simulator: {session.refused}")
        return stats

    async def handler(ws):
        await Session(ws, served, stats, dialled=False, **session_options).run()

    stop = asyncio.Event()
    _on_signals(stop.set)
    try:
        server = await websockets.serve(handler, host, port, **ws_options)
    except OSError as e:
        raise RuntimeError(f"cannot listen on {host}:{port}: {e}") from None
    bound = server.sockets[0].getsockname()[1]
    url = f"ws://{f'[{host}]' if ':' in host else host}:{bound}"
    log(f"serving {served.name} on {url} (Ctrl-C to stop)")
    if on_listening is not None:
        on_listening(url)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
    return stats


def _on_signals(callback) -> None:
    """Calls ``callback`` on SIGINT and SIGTERM, where the event loop can catch them."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            asyncio.get_running_loop().add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass


def load_factory(spec: str):
    """``module:attr`` or ``path/to/file.py:attr`` → the callable it names."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"--module: expected MODULE:FACTORY (e.g. point_env:make_env), got {spec!r}")
    if module_name.endswith(".py"):
        loader = importlib.util.spec_from_file_location(os.path.basename(module_name)[:-3], module_name)
        if loader is None:
            raise ValueError(f"--module: cannot load {module_name}")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"--module: {module_name} has no callable {attr!r}")
    return factory


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="metarl_bridge.py", description="Serve a Gymnasium-style env to the metarl agent over metarl-bridge/1.",
                                epilog="The token comes from --token-file or METARL_TOKEN (never from the command line).")
    p.add_argument("--module", required=True, metavar="MODULE:FACTORY", help="factory returning one env, e.g. point_env:make_env or ./my_env.py:make")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on this port (0: any free port); the URL is printed on stdout")
    where.add_argument("--connect", metavar="URL", help="dial an agent that listens (metarl serve), e.g. ws://127.0.0.1:8766")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--num", type=int, default=20, help="env copies per connection (default 20)")
    p.add_argument("--max-episode-steps", type=int, help="time limit (default: the env's max_episode_steps or spec)")
    p.add_argument("--task-space", metavar="JSON|@FILE", help="task distribution as JSON (default: the env's task_space or sample_tasks)")
    p.add_argument("--name", help="name shown to the agent")
    p.add_argument("--token-file", metavar="FILE", help="shared secret on the first line (else METARL_TOKEN)")
    p.add_argument("--no-binary", action="store_true", help="do not offer binary frames")
    p.add_argument("--hardware", action="store_true", help="announce real hardware (the agent stops it at once on Ctrl-C)")
    p.add_argument("--max-message-bytes", type=int, default=MAX_MESSAGE_BYTES)
    args = p.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        p.error(f"--port must be in [0, 65535], got {args.port}")
    try:
        token = os.environ.get("METARL_TOKEN") or None
        if args.token_file:
            with open(args.token_file, encoding="utf-8") as f:
                token = f.readline().strip()
            if not token:
                raise ValueError(f"--token-file: {args.token_file} is empty; put the shared secret on its first line")
        task_space = None
        if args.task_space:
            text = args.task_space
            if text.startswith("@"):
                with open(text[1:], encoding="utf-8") as f:
                    text = f.read()
            task_space = json.loads(text)
        options = dict(num=args.num, token=token, binary=not args.no_binary, task_space=task_space, max_episode_steps=args.max_episode_steps,
                       name=args.name, max_message_bytes=args.max_message_bytes, hardware=args.hardware)
        factory = load_factory(args.module)
        if args.connect:
            stats = serve(factory, connect=args.connect, **options)
        else:
            stats = serve(factory, host=args.host, port=args.port, on_listening=lambda url: print(url, flush=True), **options)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as e:
        print(f"metarl_bridge: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"metarl_bridge: {e}", file=sys.stderr)
        return 2
    print(f"metarl_bridge: done; {', '.join(f'{v} {k}' for k, v in stats.items())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
