# cmake -DEXE=<fastappkit> -DOUT=<file> -P write_completion.cmake: the bash completion script.
# The output's folder is made here: Ninja makes it for a custom command's output, Make does not.
get_filename_component(_dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${_dir}")
execute_process(COMMAND "${EXE}" completion bash OUTPUT_FILE "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "'${EXE} completion bash' failed (${rc})")
endif()
