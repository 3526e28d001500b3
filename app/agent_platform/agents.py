"""The agents a worker can run.

`toolbox` is deterministic: it picks a tool from the task's input, runs it and
records each step. `llm` calls Anthropic's Messages API when ANTHROPIC_API_KEY
is set; no test needs it. `golden` answers the deploy's golden task.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from collections import Counter
from collections.abc import Callable

import httpx

AGENT_TYPES = ("toolbox", "llm")
TOOLS = ("echo", "calculator", "text_stats", "wait")
MAX_WAIT_SECONDS = 30


class AgentError(Exception):
    """The task cannot be done as asked; the task fails with this message."""


_OPS: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def calculate(expression: str) -> float | int:
    """Arithmetic on numbers only: no names, calls or attributes can run."""
    if len(expression) > 200:
        raise AgentError("calculator: the expression is longer than 200 characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise AgentError(f"calculator: {expression!r} is not arithmetic") from None

    def ev(node: ast.AST) -> float | int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise AgentError("calculator: exponents above 64 are refused")
            try:
                return _OPS[type(node.op)](left, right)
            except ZeroDivisionError:
                raise AgentError("calculator: division by zero") from None
        raise AgentError(f"calculator: {expression!r} is not arithmetic")

    return ev(tree)


def text_stats(text: str) -> dict:
    words = re.findall(r"[\w']+", text.lower())
    return {
        "characters": len(text),
        "words": len(words),
        "lines": len(text.splitlines()) or (1 if text else 0),
        "top_words": [w for w, _ in Counter(words).most_common(3)],
    }


def _choose_tool(task_input: dict) -> tuple[str, object]:
    if "tool" in task_input:
        return str(task_input["tool"]), task_input.get("input", "")
    prompt = str(task_input.get("prompt", ""))
    if re.fullmatch(r"[\d\s.+\-*/%()]+", prompt) and re.search(r"\d", prompt):
        return "calculator", prompt
    if prompt.lower().startswith("stats:"):
        return "text_stats", prompt[6:].strip()
    return "echo", prompt


def run_toolbox(config: dict, task_input: dict) -> dict:
    tool, arg = _choose_tool(task_input)
    allowed = config.get("tools") or list(TOOLS)
    if tool not in TOOLS:
        raise AgentError(f"unknown tool {tool!r}; the toolbox has {', '.join(TOOLS)}")
    if tool not in allowed:
        raise AgentError(
            f"tool {tool!r} is not enabled for this agent (config.tools: {', '.join(allowed)})"
        )
    if tool == "echo":
        output: object = str(arg)
    elif tool == "calculator":
        output = calculate(str(arg))
    elif tool == "text_stats":
        output = text_stats(str(arg))
    else:
        try:
            seconds = float(arg)
        except (TypeError, ValueError):
            raise AgentError("wait: input must be a number of seconds") from None
        if not 0 <= seconds <= MAX_WAIT_SECONDS:
            raise AgentError(f"wait: input must be between 0 and {MAX_WAIT_SECONDS} seconds")
        time.sleep(seconds)
        output = {"waited_seconds": seconds}
    return {"output": output, "steps": [{"tool": tool, "input": arg, "output": output}]}


def run_llm(config: dict, task_input: dict, api_key: str, default_model: str) -> dict:
    if not api_key:
        raise AgentError("the llm agent needs ANTHROPIC_API_KEY in the worker's environment")
    prompt = str(task_input.get("prompt", ""))
    reply = httpx.post(
        "https://api.anthropic.com/v1/messages",
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"},
        json={
            "model": config.get("model", default_model),
            "max_tokens": int(config.get("max_tokens", 512)),
            "system": config.get("system", "You are a helpful agent."),
            "messages": [{"role": "user", "content": prompt}],
        },
        timeout=60,
    )
    if reply.status_code != 200:
        raise AgentError(f"the LLM provider answered {reply.status_code}")
    text = "".join(block.get("text", "") for block in reply.json().get("content", []))
    return {"output": text, "steps": [{"tool": "llm", "input": prompt, "output": text}]}


def run_golden(task_input: dict, release: str) -> dict:
    return {"output": {"nonce": task_input.get("nonce"), "release": release}, "steps": []}
