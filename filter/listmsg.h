/*
 * listmsg.h - the copy of a message that the members of a simple list
 * get (store/list.h: an address that expands to its members), pure.
 *
 * Only header fields are added (and Reply-To replaced on request): the
 * original bytes stay as they are, so signatures (DKIM over the body,
 * S/MIME, PGP) still verify and the store keeps one body for the copies.
 */
#ifndef VELLUM_FILTER_LISTMSG_H
#define VELLUM_FILTER_LISTMSG_H

#include <stddef.h>

/* Longest List-Id phrase (store/list.h's name), bytes. */
#define FILTER_LIST_NAME_MAX	127

struct filter_list_in {
	const char	*list;		/* list@domain */
	const char	*name;		/* List-Id phrase; "" none */
	const char	*owner;		/* owner's address; "" none */
	int		 reply_to;	/* Reply-To: the list */
	const void	*msg;		/* the message as it came */
	size_t		 len;
};

/*
 * The members' copy of in->msg: at the top of the header, in this order,
 *   List-Id: "name" <local.domain>   (RFC 2919: the list address with its
 *                                     '@' made '.'; the phrase quoted, or
 *                                     RFC 2047 words when not ASCII;
 *                                     without a phrase when name is "")
 *   List-Post: <mailto:list@domain>  (RFC 2369)
 *   List-Owner: <mailto:owner>       (when owner is not "")
 *   Precedence: list
 *   Reply-To: <list@domain>          (with reply_to)
 * then the original bytes unchanged, except that with reply_to every
 * Reply-To field of the header (any case, with its continuation lines)
 * is left out.  The added lines end as the message's first line does
 * (CRLF, or LF; CRLF when it has no line end).
 * Returns 1 with *msg_r (malloc'd, NUL-ended) and *len_r; 0 when the
 * message already has this list's List-Id (a copy that came back: a mail
 * loop), with err_set(ERR_INVALID, "mail loop: ..."); -1 INVALID when
 * list is not local@domain or list, name or owner would inject a header
 * (CR, LF, or '<' '>' in an address) or name is longer than
 * FILTER_LIST_NAME_MAX.
 */
int	filter_list_copy(const struct filter_list_in *, char **msg_r,
	    size_t *len_r);

#endif
