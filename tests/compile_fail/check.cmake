# Compiles tests/compile_fail/<SOURCE> with -DDORM_CASE=<CASE> (syntax only, in separate mode: the runtime's
# definitions play no part in these checks). CASE 0 must compile; any other
# case must fail, and the compiler's output must contain EXPECT.
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
