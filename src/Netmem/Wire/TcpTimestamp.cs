namespace Netmem.Wire;

/// <summary>The timestamps option (RFC 7323): the sender's clock (TSval) and the value it echoes (TSecr).</summary>
public readonly record struct TcpTimestamp(uint Value, uint EchoReply);
