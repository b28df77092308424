# Compiler flags as an interface target, applied PRIVATE to our own targets only.
add_library(tf_warnings INTERFACE)
target_compile_options(tf_warnings INTERFACE
  $<$<C_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wshadow -Wstrict-prototypes
                              -Wmissing-prototypes -Wno-unused-parameter>
  $<$<BOOL:${TF_WERROR}>:-Werror>)
# glibc hides POSIX/Linux declarations under -std=c17 without extensions.
target_compile_definitions(tf_warnings INTERFACE _GNU_SOURCE)

if(TF_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
