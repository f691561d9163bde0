/*
 * smtp_reply - every reply the SMTP engine sends, named, with its
 * RFC 3463 enhanced status code. Tests assert on these.
 */
#ifndef SALLYPORT_SMTP_REPLY_H
#define SALLYPORT_SMTP_REPLY_H

#define R_NOOP			"250 2.0.0 Ok"
#define R_SENDER_OK		"250 2.1.0 Ok"
#define R_RCPT_OK		"250 2.1.5 Ok"
#define R_RESET_OK		"250 2.0.0 Ok"
#define R_BYE			"221 2.0.0 Bye"
#define R_DATA_GO		"354 End data with <CR><LF>.<CR><LF>"
#define R_VRFY			"252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
#define R_HELP			"214 2.0.0 See RFC 5321; commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"
#define R_QUEUED		"250 2.0.0 Ok: queued as "	/* + queue id */

#define R_SHUTDOWN		"421 4.3.2 Service shutting down, closing connection"
#define R_TIMEOUT		"421 4.4.2 Timeout exceeded, closing connection"
#define R_TOO_MANY_ERRORS	"421 4.7.0 Too many errors, closing connection"
#define R_TOO_BUSY		"421 4.3.2 Too many connections, try again later"
#define R_TOO_MANY_FROM_IP	"421 4.7.0 Too many connections from your address"
#define R_PREGREET		"554 5.5.1 Protocol error: talking before the greeting"
#define R_TOO_MANY_RCPTS	"452 4.5.3 Too many recipients"
#define R_QUEUE_FAILED		"451 4.3.0 Error: queue file write error"
#define R_LOCAL_ERROR		"451 4.3.0 Local error in processing"
#define R_NO_SPACE		"452 4.3.1 Insufficient system storage"

#define R_UNKNOWN		"500 5.5.2 Error: command not recognized"
#define R_LINE_TOO_LONG		"500 5.5.6 Line too long"
#define R_NUL_IN_COMMAND	"500 5.5.2 NUL character in command"
#define R_SYNTAX		"501 5.5.4 Syntax error in parameters or arguments"
#define R_HELO_SYNTAX		"501 5.5.4 Syntax: EHLO hostname"
#define R_MAIL_SYNTAX		"501 5.5.4 Syntax: MAIL FROM:<address>"
#define R_RCPT_SYNTAX		"501 5.5.4 Syntax: RCPT TO:<address>"
#define R_NO_ARGS		"501 5.5.4 Syntax: command takes no arguments"
#define R_BAD_ADDRESS		"501 5.1.3 Bad address syntax"
#define R_BAD_SENDER		"501 5.1.7 Bad sender address syntax"
#define R_NEED_HELO		"503 5.5.1 Error: send HELO/EHLO first"
#define R_NEED_MAIL		"503 5.5.1 Error: need MAIL command"
#define R_NEED_RCPT		"503 5.5.1 Error: need RCPT command"
#define R_NESTED_MAIL		"503 5.5.1 Error: nested MAIL command"
#define R_BAD_PARAM		"555 5.5.4 Unsupported parameter"
#define R_BAD_SIZE_PARAM	"501 5.5.4 Bad SIZE parameter"
#define R_BAD_BODY_PARAM	"501 5.5.4 Bad BODY parameter"
#define R_BAD_AUTH_PARAM	"501 5.5.4 Bad AUTH parameter"
#define R_BAD_REQUIRETLS_PARAM	"501 5.5.4 Bad REQUIRETLS parameter: it takes no value"
#define R_REQUIRETLS_NEEDS_TLS	"530 5.7.10 REQUIRETLS needs a TLS session: STARTTLS first"	/* RFC 8689 3, RFC 5248 X.7.10 */
#define R_SIZE_EXCEEDED		"552 5.3.4 Message size exceeds fixed limit"
#define R_RELAY_DENIED		"550 5.7.1 Relaying denied"
#define R_SRS_REFUSED		"550 5.7.1 <%s>: Recipient address rejected: %s"
#define R_BARE_LF		"554 5.5.2 Bare CR or LF in message data is not allowed"
#define R_NUL_IN_DATA		"554 5.6.0 NUL character in message data is not allowed"
#define R_DATA_LINE_TOO_LONG	"554 5.5.6 Message line longer than 1000 octets"
#define R_TOO_MANY_HOPS		"554 5.4.6 Too many hops"	/* > max_hops Received: */
#define R_NO_VALID_RCPTS	"554 5.5.1 Error: no valid recipients"
#define R_PROTOCOL		"554 5.5.1 Protocol error"
#define R_ACCESS_DENIED		"554 5.7.1 Access denied"	/* greeting: client_deny */
/* A client the DNS blocklists refuse, as Postfix postscreen says it;
 * with dnsbl_reply, R_DNSBL then its text. */
#define R_DNSBL			"554 5.7.1 "
#define R_DNSBL_DEFAULT		"Service unavailable; client [%s] blocked using %s"
/* A milter's reject and tempfail without a text of its own, and its
 * default action (daemon/milter*.c): Postfix's words. */
#define R_MILTER_REJECT		"550 5.7.1 Command rejected"
#define R_MILTER_TEMPFAIL	"451 4.7.1 Service unavailable - try again later"
#define R_UTF8_NEEDS_SMTPUTF8	"553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL"	/* RFC 6531 3.4 */
/* Postfix's reject_sender_login_mismatch: the address, then the login */
#define R_SENDER_NOT_OWNED	"553 5.7.1 <%s>: Sender address rejected: not owned by user %s"
/* login_max_*_per_day: temporary, the count starts again at 00:00 UTC */
#define R_LOGIN_LIMIT		"450 4.7.1 Daily sending limit reached for this login, try again later"
#define R_FROM_UNREADABLE	"553 5.7.1 Sender address rejected: %s"

#define R_TLS_GO		"220 2.0.0 Ready to start TLS"
#define R_TLS_ACTIVE		"554 5.5.1 TLS already active"
#define R_TLS_SYNTAX		"501 5.5.4 Syntax: STARTTLS"
#define R_TLS_UNAVAILABLE	"454 4.7.0 TLS not available"

#define R_AUTH_OK		"235 2.7.0 Authentication successful"
#define R_AUTH_BAD		"535 5.7.8 Authentication credentials invalid"
#define R_AUTH_TOO_MANY		"421 4.7.0 Too many authentication failures, closing connection"
#define R_AUTH_ALREADY		"503 5.5.1 Already authenticated"
#define R_AUTH_IN_TX		"503 5.5.1 AUTH not allowed during a mail transaction"
#define R_AUTH_UNAVAILABLE	"503 5.5.1 Authentication not enabled"
#define R_AUTH_SYNTAX		"501 5.5.4 Syntax: AUTH mechanism [initial-response]"
#define R_AUTH_CANCELLED	"501 5.0.0 Authentication cancelled"
#define R_AUTH_BASE64		"501 5.5.2 Cannot decode response"
#define R_AUTH_BADMECH		"504 5.5.4 Unrecognized authentication mechanism"
#define R_AUTH_TEMP		"454 4.7.0 Temporary authentication failure"
#define R_AUTH_IP_LIMIT		"454 4.7.0 Too many authentication failures from your address, try later"
#define R_AUTH_LINE_TOO_LONG	"500 5.5.6 Authentication exchange line is too long"
/* Checks of mail from others (daemon/mxcheck_verdict.c): the start of
 * the line, the reason follows. RFC 7372 3.2 for SPF. */
#define R_SPF_REFUSED		"550 5.7.23 SPF check failed: "
#define R_DMARC_REFUSED		"550 5.7.1 DMARC policy of the From: domain: reject: "
#define R_DMARC_DEFERRED	"451 4.7.5 DMARC policy of the From: domain: reject, and a check failed for now: "

#endif
