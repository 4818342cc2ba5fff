# Builds and runs a small program the way a user's project consumes dorm, one MODE per CTest test:
#   find_package      installs dorm into a scratch prefix, then configures tests/package against it
#                     (examples/blog, header-only and with separate compilation);
#   add_subdirectory  tests/package/add_subdirectory: dorm's source tree added to a project;
#   fetchcontent      tests/package/fetchcontent: dorm through FetchContent from a local path, PostgreSQL only;
#   pkg_config        installs dorm, then compiles hello_sqlite.cpp with `pkg-config --cflags --libs dorm-sqlite`.
# SOURCE is dorm's source tree, BUILD its build tree, WORK a scratch directory, CXX the compiler.
file(REMOVE_RECURSE ${WORK})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  if(rc)
    message(FATAL_ERROR "${MODE}: ${what} failed:\n${out}${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

function(install_dorm)
  run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
endfunction()

# Configures, builds and runs a consumer project.
function(consume project_dir)
  run("configuring ${project_dir}" ${CMAKE_COMMAND} -S ${project_dir} -B ${WORK}/build -G Ninja
      -DCMAKE_CXX_COMPILER=${CXX} ${ARGN})
  foreach(program IN LISTS PROGRAMS)
    run("building ${program}" ${CMAKE_COMMAND} --build ${WORK}/build --target ${program})
    run("running ${program}" ${WORK}/build/${program})
  endforeach()
endfunction()

file(MAKE_DIRECTORY ${WORK})
if(MODE STREQUAL "find_package")
  install_dorm()
  # The installed static libraries carry the sanitizers of dorm's own build: the consumer must link them too.
  set(flags "")
  if(SANITIZE)
    set(flags "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
  endif()
  set(PROGRAMS blog blog_separate)
  consume(${SOURCE}/tests/package -DCMAKE_PREFIX_PATH=${WORK}/prefix ${flags})
elseif(MODE STREQUAL "add_subdirectory")
  # Only the program's targets are built: dorm's own build is not part of this check.
  set(PROGRAMS hello)
  consume(${SOURCE}/tests/package/add_subdirectory -DDORM_SOURCE_DIR=${SOURCE})
elseif(MODE STREQUAL "fetchcontent")
  set(PROGRAMS hello)
  consume(${SOURCE}/tests/package/fetchcontent -DDORM_SOURCE_DIR=${SOURCE})
elseif(MODE STREQUAL "pkg_config")
  install_dorm()
  if(NOT EXISTS ${WORK}/prefix/share/doc/dorm/LICENSE)
    message(FATAL_ERROR "pkg_config: LICENSE is not installed")
  endif()
  file(GLOB pc_dir LIST_DIRECTORIES true ${WORK}/prefix/lib*/pkgconfig ${WORK}/prefix/lib/*/pkgconfig)
  string(JOIN ":" pc_path ${pc_dir})
  set(ENV{PKG_CONFIG_PATH} "${pc_path}")
  run("pkg-config dorm-postgresql" pkg-config --cflags --libs dorm-postgresql)
  if(NOT out MATCHES "-lpq" OR NOT out MATCHES "-lfmt")
    message(FATAL_ERROR "pkg_config: dorm-postgresql does not give libpq and fmt: ${out}")
  endif()
  # The command a Makefile or a shell would run.
  run("compiling with pkg-config" sh -c
      "\"${CXX}\" -std=c++20 -o hello \"${SOURCE}/tests/package/hello_sqlite.cpp\" $(pkg-config --cflags --libs dorm-sqlite)")
  run("running the program" ${WORK}/hello)
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
