# fastappkit_add_plugin: builds an external app's drop-in plugin folder (plugin.toml + library)
# from its source tree, embedding models.toml and the revision files into the library.
#
#   fastappkit_add_plugin(
#     NAME payments                         # the app name: [a-z][a-z0-9_]*, at most 48 characters
#     VERSION 1.2.0                         # optional when the source folder has a plugin.toml: its
#                                           # version is then the one place the version is written
#     MODELS models.toml                    # optional
#     MIGRATIONS migrations/versions        # a folder (every *.toml in it) or files
#     SOURCES steps.cpp                     # optional: C++ steps (FASTAPPKIT_STEP)
#     OUTPUT_DIRECTORY <dir>                # optional; default ${CMAKE_BINARY_DIR}/plugins/<name>
#     ABI_MINOR 1                           # optional: the ABI 1.x minor the plugin needs (default 0);
#                                           # hosts older than that refuse it before loading it
#     SHARED_RUNTIME                        # optional: link the shared libstdc++ instead of a private
#                                           # copy (for a plugin that passes standard library objects
#                                           # to other C++ shared libraries it links)
#   )
#
# With GCC on Linux a plugin carries its own copy of the C++ runtime (libstdc++, libgcc), its
# symbols hidden, so it loads on distributions older than the one it was built on;
# -DFASTAPPKIT_PLUGIN_STATIC_RUNTIME=OFF turns that off for every plugin of a build.
#
# The folder it produces is what a user drops into a project's plugins/ folder.
option(FASTAPPKIT_PLUGIN_STATIC_RUNTIME "Link each plugin with its own hidden copy of libstdc++ and libgcc" ON)
set_property(GLOBAL PROPERTY FASTAPPKIT_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/fastappkit_embed.cmake")

function(fastappkit_add_plugin)
  cmake_parse_arguments(P "NO_ENTRY;SHARED_RUNTIME" "NAME;VERSION;MODELS;OUTPUT_DIRECTORY;TARGET;ABI_MINOR" "MIGRATIONS;SOURCES" ${ARGN})
  if(NOT P_NAME MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "fastappkit_add_plugin: NAME '${P_NAME}' must match [a-z][a-z0-9_]*")
  endif()
  string(LENGTH "${P_NAME}" _len)
  if(_len GREATER 48)
    message(FATAL_ERROR "fastappkit_add_plugin: NAME '${P_NAME}' is longer than 48 characters")
  endif()
  # A plugin source folder's plugin.toml (what `fastappkit plugin ...` reads) holds the name and
  # the version; they are read from its `key = "value"` lines so the two never disagree.
  set(_source_manifest "${CMAKE_CURRENT_SOURCE_DIR}/plugin.toml")
  if(EXISTS "${_source_manifest}")
    file(STRINGS "${_source_manifest}" _name_line REGEX "^name[ \t]*=[ \t]*\"[^\"]*\"")
    file(STRINGS "${_source_manifest}" _version_line REGEX "^version[ \t]*=[ \t]*\"[^\"]*\"")
    string(REGEX REPLACE "^name[ \t]*=[ \t]*\"([^\"]*)\".*" "\\1" _manifest_name "${_name_line}")
    string(REGEX REPLACE "^version[ \t]*=[ \t]*\"([^\"]*)\".*" "\\1" _manifest_version "${_version_line}")
    if(NOT _manifest_name STREQUAL P_NAME)
      message(FATAL_ERROR "fastappkit_add_plugin: NAME '${P_NAME}' differs from name = \"${_manifest_name}\" in ${_source_manifest}; make them the same")
    endif()
    if(NOT _manifest_version)
      message(FATAL_ERROR "fastappkit_add_plugin(${P_NAME}): ${_source_manifest} has no line version = \"...\"")
    endif()
    if(P_VERSION AND NOT P_VERSION STREQUAL _manifest_version)
      message(FATAL_ERROR "fastappkit_add_plugin(${P_NAME}): VERSION ${P_VERSION} differs from version = \"${_manifest_version}\" in "
                          "${_source_manifest}; write the version in one place (leave VERSION out to use plugin.toml's)")
    endif()
    set(P_VERSION "${_manifest_version}")
  endif()
  if(NOT P_VERSION)
    message(FATAL_ERROR "fastappkit_add_plugin(${P_NAME}): VERSION is required (or a plugin.toml with version = \"...\" beside CMakeLists.txt)")
  endif()
  # The version is written into plugin.toml and the library; keep it a plain version string.
  if(NOT P_VERSION MATCHES "^[A-Za-z0-9][A-Za-z0-9._+~-]*$")
    message(FATAL_ERROR "fastappkit_add_plugin(${P_NAME}): VERSION '${P_VERSION}' must be a version such as 1.2.0 (letters, digits and . _ + ~ -)")
  endif()
  if(NOT DEFINED P_ABI_MINOR OR P_ABI_MINOR STREQUAL "")
    set(P_ABI_MINOR 0)
  endif()
  if(NOT P_ABI_MINOR MATCHES "^[0-9]+$")
    message(FATAL_ERROR "fastappkit_add_plugin(${P_NAME}): ABI_MINOR '${P_ABI_MINOR}' must be a number")
  endif()
  if(NOT P_OUTPUT_DIRECTORY)
    set(P_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/plugins/${P_NAME}")
  endif()
  if(NOT P_TARGET)
    set(P_TARGET "fastappkit_plugin_${P_NAME}")
  endif()

  set(_models "")
  if(P_MODELS)
    get_filename_component(_models "${P_MODELS}" ABSOLUTE)
  endif()
  set(_migrations "")
  foreach(_m IN LISTS P_MIGRATIONS)
    get_filename_component(_abs "${_m}" ABSOLUTE)
    if(IS_DIRECTORY "${_abs}")
      file(GLOB _found CONFIGURE_DEPENDS "${_abs}/*.toml")
      list(SORT _found)
      list(APPEND _migrations ${_found})
    else()
      list(APPEND _migrations "${_abs}")
    endif()
  endforeach()

  get_property(_FASTAPPKIT_EMBED_SCRIPT GLOBAL PROPERTY FASTAPPKIT_EMBED_SCRIPT)
  set(_generated "${CMAKE_CURRENT_BINARY_DIR}/${P_TARGET}_embedded.cpp")
  string(REPLACE ";" "|" _migration_arg "${_migrations}")
  add_custom_command(
    OUTPUT "${_generated}"
    COMMAND "${CMAKE_COMMAND}" "-DNAME=${P_NAME}" "-DVERSION=${P_VERSION}" "-DMODELS=${_models}"
            "-DMIGRATIONS=${_migration_arg}" "-DNO_ENTRY=${P_NO_ENTRY}" "-DOUT=${_generated}" -P "${_FASTAPPKIT_EMBED_SCRIPT}"
    DEPENDS ${_models} ${_migrations} "${_FASTAPPKIT_EMBED_SCRIPT}"
    COMMENT "Embedding models and migrations of plugin ${P_NAME}"
    VERBATIM)

  add_library(${P_TARGET} MODULE ${P_SOURCES} "${_generated}")
  target_link_libraries(${P_TARGET} PRIVATE fastappkit::plugin_sdk)
  target_compile_features(${P_TARGET} PRIVATE cxx_std_17)
  target_compile_definitions(${P_TARGET} PRIVATE FASTAPPKIT_PLUGIN_ABI_MINOR=${P_ABI_MINOR})
  set_target_properties(${P_TARGET} PROPERTIES
    OUTPUT_NAME "${P_NAME}"
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIRECTORY}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # The C++ runtime linked into the library, its symbols kept inside it, for portability: a
  # plugin folder is built once and dropped into projects on other machines, and a library that
  # needs the shared libstdc++ of a newer distribution (a newer GLIBCXX_ symbol version) fails to
  # load on an older one. Nothing C++ crosses the C ABI (plugin_abi.h), so the two runtimes never
  # meet. Load time decides nothing here (docs/plugins.md, "The C++ runtime": measured). A plugin
  # that links other C++ shared libraries and hands them standard library objects passes
  # SHARED_RUNTIME to share one runtime with them.
  if(FASTAPPKIT_PLUGIN_STATIC_RUNTIME AND NOT P_SHARED_RUNTIME AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
     AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_link_options(${P_TARGET} PRIVATE -static-libstdc++ -static-libgcc LINKER:--exclude-libs,ALL)
  endif()
  file(GENERATE OUTPUT "${P_OUTPUT_DIRECTORY}/plugin.toml" CONTENT
"# fastappkit plugin manifest (read without running plugin code)
name = \"${P_NAME}\"
version = \"${P_VERSION}\"
library = \"$<TARGET_FILE_NAME:${P_TARGET}>\"
abi = \"1.${P_ABI_MINOR}\"
")
endfunction()
