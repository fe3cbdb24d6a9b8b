namespace Netmem.Stack.Tcp;

/// <summary>
/// What a listener decided about a SYN's Fast Open (<c>tcp_try_fastopen</c>): whether the child skips the handshake
/// (takes the SYN's data and goes to the accept queue at once), and the cookie the SYN-ACK hands out (null: no
/// option), in the option form the client used.
/// </summary>
internal readonly record struct TcpFastOpenDecision(bool CreateChild, byte[]? Cookie, bool Experimental);
