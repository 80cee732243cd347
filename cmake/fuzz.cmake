# libFuzzer targets, built only in the clang fuzz configuration (GATEHOUSE_FUZZ_ONLY,
# `make fuzz` into build/fuzz). A module adds one beside its code in its CMakeLists.txt:
#
#   gh_fuzz_target(fuzz_pg_codec
#                  SOURCES fuzz/fuzz_pg_codec.cc
#                  DEPS gh_wire_pg)
#
# - SOURCES: the target's own files (LLVMFuzzerTestOneInput), relative to the module folder.
# - DEPS: the libraries it links. Each one of ours (gh_*) is the code under test and gets
#   libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link), so the fuzzer is
#   guided through it; what they use in turn is built with the sanitizers only.
# - CORPUS: the checked-in seeds, default fuzz/corpus/<name without "fuzz_">/.
# - DICT: a libFuzzer dictionary, default fuzz/<name without "fuzz_">.dict when it exists.
# - SECONDS: how long `make test` runs it (default GATEHOUSE_FUZZ_SECONDS).
#
# Every target is registered with CTest (the bounded run of `make test`) and listed in
# build/fuzz/fuzz_targets.tsv, which scripts/fuzz-long.sh (`make fuzz-long`) reads.
set(GATEHOUSE_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz target runs under CTest")
set(GH_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
                       -fno-omit-frame-pointer)
set(GH_FUZZ_LIST ${PROJECT_BINARY_DIR}/fuzz_targets.tsv)
if(GATEHOUSE_FUZZ_ONLY)
  file(WRITE ${GH_FUZZ_LIST} "")
endif()

function(gh_fuzz_target name)
  if(NOT GATEHOUSE_FUZZ_ONLY)
    return()
  endif()
  cmake_parse_arguments(ARG "" "CORPUS;DICT;SECONDS" "SOURCES;DEPS" ${ARGN})
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  if(NOT ARG_CORPUS)
    set(ARG_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${short})
  endif()
  if(NOT ARG_DICT AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${short}.dict)
    set(ARG_DICT ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${short}.dict)
  endif()
  if(NOT ARG_SECONDS)
    set(ARG_SECONDS ${GATEHOUSE_FUZZ_SECONDS})
  endif()

  foreach(dep IN LISTS ARG_DEPS)
    if(dep MATCHES "^gh_" AND TARGET ${dep})
      get_target_property(type ${dep} TYPE)
      get_target_property(done ${dep} GH_FUZZ_INSTRUMENTED)
      if(type STREQUAL "STATIC_LIBRARY" AND NOT done)
        target_compile_options(${dep} PRIVATE -fsanitize=fuzzer-no-link)
        set_target_properties(${dep} PROPERTIES GH_FUZZ_INSTRUMENTED ON)
      endif()
    endif()
  endforeach()

  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${GH_WARNINGS} -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})

  # libFuzzer writes what it finds into the FIRST corpus directory: a scratch one in the
  # build tree, so the checked-in seeds stay as they are.
  set(scratch ${CMAKE_CURRENT_BINARY_DIR}/corpus/${short})
  file(MAKE_DIRECTORY ${scratch})
  set(options -rss_limit_mb=2048 -timeout=25)
  if(ARG_DICT)
    list(APPEND options -dict=${ARG_DICT})
  endif()
  add_test(NAME ${name} COMMAND ${name} -max_total_time=${ARG_SECONDS} ${options} ${scratch}
                                ${ARG_CORPUS})
  set_tests_properties(${name} PROPERTIES LABELS fuzz)
  list(JOIN options " " options_text)
  file(APPEND ${GH_FUZZ_LIST}
       "${name}\t${CMAKE_CURRENT_BINARY_DIR}/${name}\t${ARG_CORPUS}\t${options_text}\n")
endfunction()
