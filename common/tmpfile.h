/*
 * tmpfile.h - an unlinked scratch file for what does not fit in memory
 * (a message being received, a body kept while it is sent).
 */
#ifndef VELLUM_TMPFILE_H
#define VELLUM_TMPFILE_H

/*
 * A new file in dir, open for reading and writing, close-on-exec, that
 * no name reaches: O_TMPFILE, or on a file system without it dir/name
 * (a mkostemp(3) template, ending "XXXXXX") made and unlinked at once.
 * Returns the descriptor, or -1 with errno from the call that failed
 * (nothing is logged: the caller says what the file was for).
 */
int	tmpfile_open(const char *dir, const char *name);

#endif
