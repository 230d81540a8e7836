# Compiler flags shared by every target of the project.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor>
                    -Wconversion -Wno-sign-conversion)
if(CAMPROXY_WERROR)
  add_compile_options(-Werror)
endif()
if(CAMPROXY_SANITIZE)
  add_compile_options(-fsanitize=${CAMPROXY_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${CAMPROXY_SANITIZE})
endif()
