# Raw-socket TCP client for sack.sh: handshake with SACK-permitted and timestamps, then two segments
# that leave holes (bytes 101..200 and 301..400 of the stream), printing B's replies as hex.
import socket, struct, time, os
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
src=socket.inet_aton('192.168.1.3'); dst=socket.inet_aton('192.168.1.2')
s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind(('veth0',0))
mymac=os.environ['MYMAC']; peermac=os.environ['PEERMAC']
eth=bytes.fromhex(peermac.replace(':',''))+bytes.fromhex(mymac.replace(':',''))+b'\x08\x00'
ipid=[100]
def send(seq,ack,flags,opts=b'',data=b''):
    while len(opts)%4: opts+=b'\x01'
    doff=(20+len(opts))//4
    th=struct.pack('!HHIIBBHHH',40000,8080,seq,ack,doff<<4,flags,502,0,0)+opts
    ph=src+dst+struct.pack('!BBH',0,6,len(th)+len(data))
    c=csum(ph+th+data); th=th[:16]+struct.pack('!H',c)+th[18:]
    ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(th)+len(data),ipid[0],0x4000,64,6,0,src,dst); ipid[0]+=1
    ip=ip[:10]+struct.pack('!H',csum(ip))+ip[12:]
    s.send(eth+ip+th+data)
def recv_tcp():
    s.settimeout(2)
    while True:
        p=s.recv(2000)
        if p[12:14]==b'\x08\x00' and p[23]==6 and p[26:30]==dst: return p
iss=1000
send(iss,0,0x02, b'\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07')
p=recv_tcp(); print('synack',p.hex())
peer_seq=struct.unpack('!I',p[38:42])[0]
ts=lambda v,e: b'\x01\x01\x08\x0a'+struct.pack('!II',v,e)
send(iss+1,peer_seq+1,0x10,ts(2,0))
time.sleep(0.1)
send(iss+1+100,peer_seq+1,0x18,ts(3,0),b'B'*100)
p=recv_tcp(); print('sack1',p.hex())
send(iss+1+300,peer_seq+1,0x18,ts(4,0),b'D'*100)
p=recv_tcp(); print('sack2',p.hex())
