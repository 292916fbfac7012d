"""Maps the project's top-level folders onto the single import root ``edbp``.

``model/``, ``reference/`` and ``conformance/`` live at the top of the repository (where
reviewers look for them) but install as ``edbp.model``, ``edbp.reference`` and
``edbp.conformance`` so that the kit never shadows another distribution's package.
``spec/`` (the CDDL) and ``vectors/`` ship as package data.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOTS = {
    "edbp": "src/edbp",
    "edbp.model": "model",
    "edbp.reference": "reference",
    "edbp.conformance": "conformance",
    "edbp.spec": "spec",
    "edbp.vectors": "vectors",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for name, folder in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    packages.extend(
        f"{name}.{sub}" for sub in find_packages(folder) if not sub.startswith("edbp")
    )
    # data-only subfolders of vectors/ are packages too, so that their files install
    if name == "edbp.vectors" and Path(folder).is_dir():
        for sub in sorted(p for p in Path(folder).rglob("*") if p.is_dir()):
            dotted = ".".join(sub.relative_to(folder).parts)
            if f"{name}.{dotted}" not in packages:
                packages.append(f"{name}.{dotted}")

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "edbp": ["py.typed"],
        "edbp.spec": ["*.cddl", "*.md", "*.json"],
        "edbp.vectors": ["*", "**/*"],
        "edbp.conformance": ["*.ini", "*.json", "**/*.json", "**/*.cddl"],
    },
)
