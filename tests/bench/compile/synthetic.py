#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the compile-time benchmark's synthetic application into a folder: 20 models in one header (each after
# the first has a ForeignKey to the one before), 10 translation units that each query two of them, and main.
# With --extern the header also declares each model's metadata extern and models.cpp instantiates it once.
import os
import sys

MODELS, UNITS = 20, 10


def model(i):
    fk = f"    dorm::ForeignKey<Model{i - 1}> parent{{}};\n" if i else ""
    fields = "id, " + ("parent, " if i else "") + "name, code, score, created, note"
    return (f"struct Model{i} {{\n    std::int64_t id = 0;\n{fk}    std::string name{{}};\n    std::string code{{}};\n"
            f"    int score = 0;\n    dorm::DateTime created{{}};\n    std::optional<std::string> note{{}};\n"
            f"    DORM_MODEL(Model{i}, {fields})\n}};\n")


def header(indices, extern):
    out = ["#pragma once\n#include <dorm/sqlite.hpp>\n\n#include <cstdint>\n#include <optional>\n#include <string>\n\n"]
    for i in indices:
        out.append(model(i))
        if extern:
            out.append(f"DORM_EXTERN_MODEL(Model{i});\n")
        out.append("\n")
    return "".join(out)


def unit(u, header_name):
    a, b = 2 * u, 2 * u + 1
    return f"""#include "{header_name}"

#include <fmt/format.h>

long unit{u}() {{
    auto parent = Model{a}::objects().create({{{{"name", "a{u}"}}, {{"code", "x"}}}});
    Model{b}::objects().create(Model{b}{{.parent = parent, .name = "b{u}", .code = "y", .score = {u}}});
    long total = 0;
    for (const Model{b}& m : Model{b}::objects().filter("score__gte", 0).exclude("name", "z").order_by("-score"))
        total += m.score;
    total += static_cast<long>(Model{a}::objects().filter("name__startswith", "a").count());
    auto one = Model{a}::objects().get("id", parent.id);
    fmt::print("{{}} {{}}\\n", one.name, total);
    return total;
}}
"""


def main():
    out, extern = sys.argv[1], "--extern" in sys.argv
    os.makedirs(out, exist_ok=True)
    write = lambda name, text: open(os.path.join(out, name), "w").write(text)
    write("models.hpp", header(range(MODELS), extern))
    write("models2.hpp", header(range(2), extern))
    for u in range(UNITS):
        write(f"unit{u}.cpp", unit(u, "models.hpp"))
    write("unit0_small.cpp", unit(0, "models2.hpp"))
    decls = "".join(f"long unit{u}();\n" for u in range(UNITS))
    calls = " + ".join(f"unit{u}()" for u in range(UNITS))
    tables = ", ".join(f"Model{i}" for i in range(MODELS))
    write("main.cpp", f'#include "models.hpp"\n\n{decls}\nint main() {{\n    dorm::databases().add("default", '
                      f'"sqlite::memory:");\n    dorm::create_tables<{tables}>();\n    return {calls} > 0 ? 0 : 1;\n}}\n')
    if extern:
        write("models.cpp", '#include "models.hpp"\n\n' + "".join(f"DORM_INSTANTIATE_MODEL(Model{i});\n" for i in range(MODELS)))


main()
