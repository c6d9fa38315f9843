"""2-D point navigation in pure Python: metarl's built-in ``navigation`` env, Gymnasium-style.

    observation  position (x, y), starting at the origin
    action       velocity (vx, vy), clipped to [-0.1, 0.1] in each coordinate
    reward       minus the distance to the goal after the move
    terminated   within 0.01 of the goal in both coordinates
    truncated    after 100 steps
    task         {"goal": [gx, gy]}, goals uniform in [-0.5, 0.5]^2

Serve it to the agent with ``python3 metarl_bridge.py --module point_env:make_env --port 8765``.
Given the same tasks and actions it produces the same float32 observations and rewards as the
built-in env (test/pythonAdapter.test.ts checks this), so its learning curves are comparable.
"""
import math

ACTION_LIMIT = 0.1
SUCCESS_TOLERANCE = 0.01


class PointEnv:
    """One point; the adapter builds one per env copy."""

    observation_space = {"low": [-math.inf, -math.inf], "high": [math.inf, math.inf], "shape": [2]}
    action_space = {"low": [-ACTION_LIMIT, -ACTION_LIMIT], "high": [ACTION_LIMIT, ACTION_LIMIT], "shape": [2]}

    def __init__(self, goal_range=0.5, max_episode_steps=100):
        self.goal_range = goal_range
        self.max_episode_steps = max_episode_steps
        # The distribution the agent draws tasks from (JSON; see docs/bridge-protocol.md).
        self.task_space = {"goal": {"low": [-goal_range, -goal_range], "high": [goal_range, goal_range]}}
        self.goal = (0.0, 0.0)
        self.x = self.y = 0.0
        self.t = 0

    def sample_tasks(self, n, rng):
        """n tasks from a random.Random (for Python-side use; the agent samples from task_space)."""
        r = self.goal_range
        return [{"goal": [rng.uniform(-r, r), rng.uniform(-r, r)]} for _ in range(n)]

    def set_task(self, task):
        goal = task.get("goal") if isinstance(task, dict) else None
        if not (isinstance(goal, (list, tuple)) and len(goal) == 2 and all(math.isfinite(g) and abs(g) <= self.goal_range for g in goal)):
            raise ValueError(f"task.goal must be two numbers in [-{self.goal_range}, {self.goal_range}], got {goal!r}")
        self.goal = (float(goal[0]), float(goal[1]))

    def reset(self, seed=None, options=None):
        # Deterministic: the start is always the origin, so the seed is not needed.
        if options and "task" in options:
            self.set_task(options["task"])
        self.x = self.y = 0.0
        self.t = 0
        return [0.0, 0.0], {"goal": list(self.goal)}

    def step(self, action):
        vx, vy = (min(max(float(a), -ACTION_LIMIT), ACTION_LIMIT) for a in action)
        self.x += vx
        self.y += vy
        self.t += 1
        dx, dy = self.x - self.goal[0], self.y - self.goal[1]
        reward = -math.sqrt(dx * dx + dy * dy)
        terminated = abs(dx) < SUCCESS_TOLERANCE and abs(dy) < SUCCESS_TOLERANCE
        truncated = not terminated and self.t >= self.max_episode_steps
        return [self.x, self.y], reward, terminated, truncated, {}

    def close(self):
        pass


def make_env():
    """The factory the adapter calls once per copy."""
    return PointEnv()
