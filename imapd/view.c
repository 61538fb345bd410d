/*
 * view.c - (being written for issue 9; see imapd.h for what belongs here)
 */
#include "imapd/imapd.h"
