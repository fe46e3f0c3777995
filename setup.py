"""Maps the top-level folders onto the `panda.*` import namespace.

runtime/ -> panda.runtime, storage/ -> panda.storage, net/ -> panda.net,
services/ -> panda.services, bench/ -> panda.bench; panda/ holds the namespace root.
"""
from setuptools import find_packages, setup

TOP_LEVEL = ("runtime", "storage", "net", "services", "bench")

# panda/<layer> are symlinks to the folders for static tools (mypy, pyright, IDEs); the
# install maps the folders themselves, so skip the links here.
packages = ["panda"] + [f"panda.{name}" for name in find_packages("panda", exclude=TOP_LEVEL)
                        if name.split(".")[0] not in TOP_LEVEL]
package_dir = {"panda": "panda"}
for top in TOP_LEVEL:
    packages.append(f"panda.{top}")
    package_dir[f"panda.{top}"] = top
    for sub in find_packages(top):
        packages.append(f"panda.{top}.{sub}")
        package_dir[f"panda.{top}.{sub}"] = f"{top}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir, include_package_data=True)
