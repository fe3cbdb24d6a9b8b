using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Stack.Tcp;

/// <summary>
/// <c>struct ubuf_info_msgzc</c>: the completion of one or more consecutive MSG_ZEROCOPY sends of a connection,
/// covering send ids [<see cref="Id"/>, <see cref="Id"/> + <see cref="Len"/> - 1]. References are held by the send
/// queue's extents (until ACKed), by every skb carrying its memory (until freed: a retransmission in flight keeps
/// it) and by every user page descriptor mapped for it (until its last reference goes). When the last goes, the
/// range is reported on the connection's <see cref="TcpConnection.ErrorQueue"/> (COPIED when any holder copied
/// the bytes), unless the application already closed the socket, and the pins are released. Pooled per
/// connection: a steady sender allocates none.
/// </summary>
public sealed class ZerocopyUbuf : UbufInfo, IUserPageOwner
{
    private IZerocopyPin?[] _pins = new IZerocopyPin?[2];
    private int _pinCount;

    internal ZerocopyUbuf(TcpConnection connection) => Connection = connection;

    public TcpConnection Connection { get; }
    /// <summary>The first send id (<c>id</c>).</summary>
    public uint Id { get; private set; }
    /// <summary>How many send ids it covers (<c>len</c>); 0 for one that queued nothing and takes no id.</summary>
    public uint Len { get; internal set; }
    /// <summary>Bytes of the sends it covers (<c>bytelen</c>).</summary>
    public long Bytes { get; internal set; }

    /// <summary>Whether it covers devmem TX sends (net_iovs of a TX binding), which never share one with host memory.</summary>
    internal bool Devmem { get; set; }

    internal void Start(uint id)
    {
        Init();
        Devmem = false;
        Id = id;
        Len = 0;
        Bytes = 0;
    }

    internal void AddPin(IZerocopyPin pin)
    {
        if (_pinCount == _pins.Length) Array.Resize(ref _pins, _pins.Length * 2);
        _pins[_pinCount++] = pin;
    }

    void IUserPageOwner.UserPageReleased(NetmemRef page) => Put();

    /// <summary><c>__msg_zerocopy_callback</c>: report the range, release the pins, back to the pool.</summary>
    protected override void Complete()
    {
        var c = Connection;
        if (Len > 0 && !c.AppClosed) c.ErrorQueue.ReportZerocopy(Id, Len, copied: !Zerocopy);
        for (int i = 0; i < _pinCount; i++)
        {
            var pin = _pins[i]!;
            _pins[i] = null;
            pin.Release();
        }
        _pinCount = 0;
        c.ReturnUbuf(this);
    }

    public override string ToString() => $"zerocopy ubuf [{Id}, +{Len}) of {Connection}";
}
