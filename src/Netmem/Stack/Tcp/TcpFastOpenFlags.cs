namespace Netmem.Stack.Tcp;

/// <summary>The bits of net.ipv4.tcp_fastopen (Linux's TFO_* values; default <see cref="Client"/>).</summary>
[Flags]
public enum TcpFastOpenFlags
{
    None = 0,
    /// <summary>TFO_CLIENT_ENABLE: active opens may use Fast Open (MSG_FASTOPEN, TCP_FASTOPEN_CONNECT).</summary>
    Client = 0x1,
    /// <summary>TFO_SERVER_ENABLE: listeners with a Fast Open queue (TCP_FASTOPEN) accept data in the SYN.</summary>
    Server = 0x2,
    /// <summary>TFO_CLIENT_NO_COOKIE: data goes in the SYN without a cookie (and without the option).</summary>
    ClientNoCookie = 0x4,
    /// <summary>TFO_SERVER_COOKIE_NOT_REQD: a listener takes SYN data without checking a cookie.</summary>
    ServerCookieNotRequired = 0x200,
    /// <summary>TFO_SERVER_WO_SOCKOPT1: every listener gets a Fast Open queue of its backlog at listen().</summary>
    ServerWithoutSockopt = 0x400,
}
