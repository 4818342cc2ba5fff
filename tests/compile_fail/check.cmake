# Compiles tests/compile_fail/<SOURCE> with -DDORM_CASE=<CASE> (syntax only, in separate mode: the runtime's
# definitions play no part in these checks). CASE 0 must compile; any other
# case must fail, and the compiler's output must contain EXPECT and name the failing call WHERE
# ("unknown_lookup<&Entry::headline>": Clang's spelling; GCC writes "unknown_lookup(const char*) [with auto after =
# &Entry::headline]"), with the namespace dorm::compile_error left out.
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -DDORM_SEPARATE_COMPILATION -I${INCLUDE} -DDORM_CASE=${CASE} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(CASE EQUAL 0)
  if(rc)
    message(FATAL_ERROR "the control case must compile:\n${err}")
  endif()
  return()
endif()
if(NOT rc)
  message(FATAL_ERROR "case ${CASE} compiled, but it must fail with: ${EXPECT}")
endif()
string(FIND "${out}${err}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "case ${CASE} failed without '${EXPECT}':\n${err}")
endif()
if(WHERE)
  # GCC writes a pointer to a static member as "(& of<Entry>::pk)", Clang as "&dorm::compile_error::of<Entry>::pk".
  set(seen "${out}${err}")
  string(REPLACE "dorm::compile_error::" "" seen "${seen}")
  string(REPLACE "(& " "&" seen "${seen}")
  string(REPLACE ")]" "]" seen "${seen}")
  string(REGEX MATCH "^([a-z_]+)<(.*)>$" parts "${WHERE}")
  set(name "${CMAKE_MATCH_1}")
  string(REGEX REPLACE "([][.*+?^$(){}|\\\\])" "\\\\\\1" arg "${CMAKE_MATCH_2}")
  if(NOT seen MATCHES "${name}(<${arg}>|\\(const char\\*\\) \\[with [^]=]*= ${arg}\\])")
    message(FATAL_ERROR "case ${CASE} failed without naming ${WHERE}:\n${err}")
  endif()
endif()
