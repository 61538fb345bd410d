/* error.c - see error.h */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

static _Thread_local enum err_class last_class;
static _Thread_local char last_msg[1024];

int
err_set(enum err_class class, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	last_class = class;
	return -1;
}

enum err_class
err_class(void)
{
	return last_class;
}

const char *
err_msg(void)
{
	return last_class == ERR_NONE ? "no error" : last_msg;
}

void
err_clear(void)
{
	last_class = ERR_NONE;
	last_msg[0] = '\0';
}

const char *
err_class_name(enum err_class class)
{
	switch (class) {
	case ERR_NONE:		return "NONE";
	case ERR_TEMP:		return "TEMP";
	case ERR_NOTFOUND:	return "NOTFOUND";
	case ERR_EXISTS:	return "EXISTS";
	case ERR_NOQUOTA:	return "NOQUOTA";
	case ERR_TOOBIG:	return "TOOBIG";
	case ERR_LIMIT:		return "LIMIT";
	case ERR_INUSE:		return "INUSE";
	case ERR_PERM:		return "PERM";
	case ERR_INVALID:	return "INVALID";
	case ERR_CORRUPT:	return "CORRUPT";
	}
	return "UNKNOWN";
}
