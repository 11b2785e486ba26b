#include "metasim_io.h"

#include <malloc.h>

int metasim_malloc_trim(void) {
    return malloc_trim(0);
}
