namespace Netmem.Sockets;

/// <summary>
/// What one <see cref="TcpSocket.ReceiveDevmemAsync"/> returned: <see cref="Bytes"/> of the stream
/// (0 at end of stream), of which <see cref="LinearBytes"/> were copied to the linear buffer, and
/// <see cref="Records"/> control records written. A read with bytes and no records read host memory
/// only (the kernel copies readable data without a cmsg).
/// </summary>
public readonly record struct DevmemReceiveResult(int Bytes, int LinearBytes, int Records);
