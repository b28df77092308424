# Finds MPI, HDF5 and (for tests) Check. See README "Building on a cluster" for
# pointing these at site modules.
find_package(MPI 3.0 REQUIRED COMPONENTS C)
find_package(Threads REQUIRED) # the background syncer (src/bgsync.c)

# FindHDF5 asks the h5cc/h5pcc wrappers; when both sit in one directory the
# serial one wins unless told otherwise. The master writes alone with the sec2
# driver, so a serial HDF5 works too; we record which build we got.
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 1.10 REQUIRED COMPONENTS C)
message(STATUS "HDF5 ${HDF5_VERSION} (parallel: ${HDF5_IS_PARALLEL})")
if(NOT TARGET HDF5::HDF5)
  # CMake < 3.19 or a config-mode HDF5 without the imported target.
  add_library(HDF5::HDF5 INTERFACE IMPORTED)
  target_include_directories(HDF5::HDF5 INTERFACE ${HDF5_INCLUDE_DIRS})
  target_link_libraries(HDF5::HDF5 INTERFACE ${HDF5_LIBRARIES})
  target_compile_definitions(HDF5::HDF5 INTERFACE ${HDF5_DEFINITIONS})
endif()

if(TF_BUILD_TESTS)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check>=0.11)
endif()
