namespace Netmem.Memory;

/// <summary>
/// API misuse of network memory: wrong kind, double put, foreign netmem, reading unreadable memory.
/// The message names the object and the rule that was broken.
/// </summary>
public sealed class NetmemException : InvalidOperationException
{
    public NetmemException(string message) : base(message) { }
}
