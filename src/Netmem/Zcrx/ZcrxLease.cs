namespace Netmem.Zcrx;

/// <summary>
/// One zero-copy receive completion held by the application: <see cref="Span"/> is the payload where the
/// NIC (or the copy fallback) put it, in the registered area. <see cref="Dispose"/> posts the buffer to the
/// refill ring, after which the span must not be read. A struct: copies share the one user reference, so
/// dispose exactly one of them (a second Dispose is a refill entry for a buffer no longer held; it is
/// counted as such, never applied, unless the application holds another completion on the same net_iov).
/// </summary>
public readonly struct ZcrxLease : IDisposable
{
    private readonly ZcrxIfq? _ifq;

    internal ZcrxLease(ZcrxIfq ifq, ZcrxCompletion completion)
    {
        _ifq = ifq;
        Completion = completion;
    }

    /// <summary>The completion (<c>off</c>, <c>len</c>).</summary>
    public ZcrxCompletion Completion { get; }
    /// <summary>Payload bytes.</summary>
    public int Length => Completion.Len;
    /// <summary>The payload in place in the area.</summary>
    public ReadOnlySpan<byte> Span => _ifq is null ? default : _ifq.GetPayload(Completion);

    /// <summary>Posts the buffer to the refill ring.</summary>
    public void Dispose() => _ifq?.Return(Completion);

    public override string ToString() => $"zcrx lease {Completion}";
}
