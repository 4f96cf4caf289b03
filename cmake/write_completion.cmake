# cmake -DEXE=<fastappkit> -DOUT=<file> -P write_completion.cmake: the bash completion script.
execute_process(COMMAND "${EXE}" completion bash OUTPUT_FILE "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "'${EXE} completion bash' failed (${rc})")
endif()
