namespace Netmem.Stack.Tcp;

/// <summary>RFC 9293 connection states (the kernel's TCP_* states, without NEW_SYN_RECV).</summary>
public enum TcpState : byte
{
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}
