/* The text of an errno value as glibc words it (see os-error.c). */
#ifndef EXECVISOR_OS_ERROR_H
#define EXECVISOR_OS_ERROR_H

const char *os_error_text(int error);

#endif
