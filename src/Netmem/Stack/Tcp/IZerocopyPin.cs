namespace Netmem.Stack.Tcp;

/// <summary>
/// What keeps a zero-copy send's user memory in place (a <c>MemoryHandle</c> of pinned managed memory): handed
/// to <see cref="TcpConnection.SendZeroCopy"/>, released by the send's completion once no reference to the
/// memory is left. <see cref="Release"/> is called once per call that took it (any thread).
/// </summary>
public interface IZerocopyPin
{
    void Release();
}
