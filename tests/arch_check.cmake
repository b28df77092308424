# Fails when an outside system is reached from more than its one module:
# mpi.h only in comm.c, hdf5.h only in the result-file module (h5out*.c, h5map.c, h5check.[ch], ...), process
# creation only in exec.c, dlopen only in plugin.c, threads only in bgsync.c; the public
# header (public/taskfarm.h) includes none of them.
# Run as: cmake -DSRC=<src dir> -P arch_check.cmake
file(GLOB sources ${SRC}/*.c ${SRC}/*.h ${SRC}/public/*.h)
set(rules "#include[ ]*<mpi\\.h>=comm.c" "#include[ ]*<hdf5\\.h>=h5out.c|h5out_impl.h|h5map.c|h5params.c|h5table.c|h5check.c|h5check.h"
          "#include[ ]*<spawn\\.h>=exec.c"
          "[^_a-z]fork[ ]*\\(=exec.c" "exec[lv]p?e?[ ]*\\(=exec.c"
          "#include[ ]*<dlfcn\\.h>=plugin.c" "#include[ ]*<pthread\\.h>=bgsync.c|mapthreads.c")
set(bad "")
foreach(f ${sources})
  get_filename_component(name ${f} NAME)
  file(READ ${f} text)
  foreach(rule ${rules})
    string(REPLACE "=" ";" parts ${rule})
    list(GET parts 0 pattern)
    list(GET parts 1 owner)
    if(NOT name MATCHES "^(${owner})$" AND text MATCHES "${pattern}")
      string(APPEND bad "  ${name} matches '${pattern}', which belongs to ${owner} alone\n")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "module boundaries broken:\n${bad}")
endif()
