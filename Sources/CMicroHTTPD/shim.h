#ifndef KUBECONFIG_SERVICE_CMICROHTTPD_SHIM_H
#define KUBECONFIG_SERVICE_CMICROHTTPD_SHIM_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

/// An unescape callback that leaves URLs and query arguments percent-encoded: Swift decodes
/// them, so that an encoded NUL (`%00`) cannot silently cut a path short.
static size_t kcs_mhd_keep_escaped(void *cls, struct MHD_Connection *connection, char *text)
{
    (void)cls;
    (void)connection;
    return strlen(text);
}

/// MHD_start_daemon is variadic, which Swift cannot call: every option travels in one
/// MHD_OPTION_ARRAY, and the two callbacks that need a function pointer are explicit.
static inline struct MHD_Daemon *kcs_mhd_start_daemon(
    unsigned int flags,
    uint16_t port,
    MHD_AccessHandlerCallback handler,
    void *handler_cls,
    MHD_RequestCompletedCallback completed,
    void *completed_cls,
    MHD_LogCallback logger,
    void *logger_cls,
    MHD_NotifyConnectionCallback connections,
    void *connections_cls,
    struct MHD_OptionItem *options)
{
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_EXTERNAL_LOGGER, logger, logger_cls,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_UNESCAPE_CALLBACK, kcs_mhd_keep_escaped, NULL,
                            MHD_OPTION_NOTIFY_CONNECTION, connections, connections_cls,
                            MHD_OPTION_ARRAY, options,
                            MHD_OPTION_END);
}

/// Formats one of microhttpd's printf-style log messages into `buffer`.
static inline void kcs_format_log(char *buffer, size_t size, const char *format, va_list arguments)
{
    vsnprintf(buffer, size, format, arguments);
}

/// MHD_get_daemon_info is variadic too: the port the daemon listens on (for port 0), or 0.
static inline uint16_t kcs_mhd_bound_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/// MHD_get_connection_info is variadic too: the pointer the connection notification stored for
/// `connection` (MHD_CONNECTION_INFO_SOCKET_CONTEXT), or NULL.
static inline void *kcs_mhd_socket_context(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == NULL ? NULL : info->socket_context;
}

/// MHD_NO and MHD_YES are enum constants whose Swift spelling changed across versions.
static inline enum MHD_Result kcs_mhd_yes(void) { return MHD_YES; }
static inline enum MHD_Result kcs_mhd_no(void) { return MHD_NO; }

#endif
