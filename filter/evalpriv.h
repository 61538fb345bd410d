/*
 * evalpriv.h - what the parts of the evaluator share (eval.c statements
 * and variables, action.c deliveries and programs, match.c patterns and
 * the message's lines, func.c built-in functions).  Not a public header:
 * only filter/eval.h is the contract.
 */
#ifndef VELLUM_FILTER_EVALPRIV_H
#define VELLUM_FILTER_EVALPRIV_H

#include <stdarg.h>
#include <stddef.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filter/eval.h"

/* Slots of the variable table: a power of two above FILTER_VARS_MAX. */
#define FE_VAR_SLOTS	2048
/* Capture pairs kept of one match (MATCH1..MATCH99). */
#define FE_OVEC_PAIRS	100

/* A value: malloc'd, NUL-ended, no NUL inside. */
struct fe_val {
	char	*p;
	size_t	 len;
};

struct fe_var {
	char		*name;	/* NULL: free slot */
	struct fe_val	 val;
};

/* One line of the message as patterns see it (no line end). */
struct fe_line {
	const char	*p;
	size_t		 len;
	int		 utf8;	/* valid UTF-8: matched in UTF mode */
};

/* The current message and its line index (built on first use). */
struct fe_msg {
	const char	*p;
	size_t		 len;
	int		 indexed;
	char		*hbuf;		/* the unfolded header lines */
	struct fe_line	*lines;		/* header lines, then body lines */
	size_t		 nhdr, nbody;
};

/* Status of a statement: go on, or a `to`/`exit` ended everything. */
enum fe_flow {
	FE_ERR = -1,
	FE_NEXT = 0,
	FE_END = 1,
};

struct fe_state {
	const struct filter_env	*env;
	struct filter_result	*res;
	struct fe_var		*vars;		/* FE_VAR_SLOTS */
	size_t			 nvars;
	struct fe_msg		 msg;
	char			*logfile;	/* "" until logfile */
	unsigned		 include_depth;
	struct filter_prog	*prog;		/* the file running (cache) */
	pcre2_match_data	*md;
	pcre2_match_context	*mctx;
};

/* eval.c */
int	fe_error(struct fe_state *, const struct filter_node *,
	    const char *, ...) __attribute__((format(printf, 3, 4)));
int	fe_step(struct fe_state *, const struct filter_node *);
const struct fe_val *fe_var_get(struct fe_state *, const char *);
int	fe_var_set(struct fe_state *, const struct filter_node *,
	    const char *, const char *, size_t);
int	fe_var_setnum(struct fe_state *, const struct filter_node *,
	    const char *, double);
int	fe_expr(struct fe_state *, const struct filter_node *,
	    struct fe_val *);
enum fe_flow	fe_stmt(struct fe_state *, const struct filter_node *);
void	fe_val_set(struct fe_val *, const char *, size_t);
void	fe_val_num(struct fe_val *, double);
void	fe_val_free(struct fe_val *);
double	fe_num(const char *);
int	fe_true(const struct fe_val *);
char	**fe_envp(struct fe_state *);
int	fe_set_size(struct fe_state *, const struct filter_node *);

/* action.c */
enum fe_flow	fe_deliver(struct fe_state *, const struct filter_node *,
	    const char *what, const char *mailbox, int final);
int	fe_default(struct fe_state *, const struct filter_node *);
int	fe_xfilter(struct fe_state *, const struct filter_node *,
	    const char *);
int	fe_system(struct fe_state *, const struct filter_node *,
	    const char *);
int	fe_backtick(struct fe_state *, const struct filter_node *,
	    const char *, struct fe_val *);

/* match.c */
void	fe_msg_set(struct fe_state *, const char *, size_t);
void	fe_msg_clear(struct fe_msg *);
int	fe_msg_index(struct fe_state *);
int	fe_pattern(struct fe_state *, const struct filter_node *,
	    struct fe_val *);
int	fe_match_text(struct fe_state *, const struct filter_node *,
	    const char *, size_t, int negate, struct fe_val *);
enum fe_flow	fe_foreach(struct fe_state *, const struct filter_node *);
int	fe_regex_find(struct fe_state *, const struct filter_node *,
	    const char *where, const char *re, int caseless,
	    const char *subj, size_t len);
void	fe_rx_free(void *);

/* func.c */
int	fe_call(struct fe_state *, const struct filter_node *,
	    struct fe_val *);

#endif
