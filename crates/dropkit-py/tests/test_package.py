"""The installed package: stubs and py.typed ship with it, the stubs name what the module
has (with the same parameters), and every class and method has a docstring."""

import ast
import inspect
from pathlib import Path

import pytest

import dropkit
from _cases import CLASSES

PACKAGE = Path(dropkit.__file__).parent
STUB = ast.parse((PACKAGE / "__init__.pyi").read_text())


def _stub_classes():
    return {n.name: n for n in STUB.body if isinstance(n, ast.ClassDef)}


def _stub_functions(body):
    return {n.name: n for n in body if isinstance(n, ast.FunctionDef)}


def _inherited_stub_methods(name):
    classes = _stub_classes()
    methods, todo = {}, [name]
    while todo:
        node = classes[todo.pop()]
        for fname, f in _stub_functions(node.body).items():
            methods.setdefault(fname, f)
        todo.extend(b.id for b in node.bases if isinstance(b, ast.Name))
    return methods


def _stub_params(f):
    a = f.args
    pos = [x.arg for x in a.posonlyargs + a.args if x.arg not in ("self", "cls")]
    return pos, [x.arg for x in a.kwonlyargs]


def _runtime_params(obj):
    sig = inspect.signature(obj)
    pos = [p.name for p in sig.parameters.values()
           if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
    kw = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
    return pos, kw


def test_typing_files_ship_in_the_package():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "__init__.pyi").is_file()
    # The installed package, not the source tree's python/dropkit (which has no extension).
    source = Path(__file__).resolve().parents[1] / "python" / "dropkit"
    assert PACKAGE.resolve() != source.resolve()


TYPE_ALIASES = {"GeneratorName", "DataFormatName", "PhiloxState", "BigDlState",
                "GeneratorState", "ArrayIn", "ArrayOut"}


def test_stubs_declare_exactly_the_public_names():
    names = set(_stub_classes()) | set(_stub_functions(STUB.body))
    for n in STUB.body:
        if isinstance(n, ast.AnnAssign):
            names.add(n.target.id)
        elif isinstance(n, ast.Assign):
            names.update(t.id for t in n.targets)
    public = {n for n in names if not n.startswith("_")} - TYPE_ALIASES
    assert public == set(dropkit.__all__) - {"__version__"}
    assert "__version__" in names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_stub_signatures_match_the_module(cls):
    stub = _inherited_stub_methods(cls.__name__)
    assert _stub_params(stub["__new__"]) == _runtime_params(cls)
    runtime_methods = {name for name, v in vars(cls).items()
                       if not name.startswith("_") and callable(v)}
    runtime_props = {name for name, v in vars(cls).items()
                     if not name.startswith("_") and not callable(v)}
    assert runtime_methods | runtime_props == set(stub) - {"__new__"}
    for name in runtime_methods:
        assert _stub_params(stub[name]) == _runtime_params(getattr(cls, name)), name


@pytest.mark.parametrize("name", ["set_seed", "default_generator_state",
                                  "set_default_generator_state", "set_num_threads",
                                  "num_threads"])
def test_stub_functions_match_the_module(name):
    stub = _stub_functions(STUB.body)[name]
    assert _stub_params(stub) == _runtime_params(getattr(dropkit, name))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_and_method_has_a_docstring(cls):
    assert cls.__doc__ and len(cls.__doc__) > 80
    for name, v in vars(cls).items():
        if not name.startswith("_"):
            assert getattr(v, "__doc__", None), f"{cls.__name__}.{name}"


def test_module_docs():
    assert dropkit.__doc__ and "float32" in dropkit.__doc__
    for name in dropkit.__all__:
        if name != "__version__":
            assert getattr(dropkit, name).__doc__, name
    assert dropkit.__version__.count(".") == 2


def test_mypy_stubtest_finds_no_issues(tmp_path):
    """mypy's stubtest compares every stub in the installed package (dropkit, its functional
    module and dropkit.torch) with what the modules define at run time."""
    import subprocess
    import sys

    pytest.importorskip("mypy")
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "dropkit", "--mypy-config-file", "/dev/null"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout
