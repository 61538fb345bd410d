/*
 * missing.c - the command handlers of the other helpers' files, until
 * their branches are merged: each answers NO.  A helper deletes its
 * lines here when it merges the core branch; the lead deletes the file
 * at the final merge.
 */
#include "imapd/imapd.h"
