namespace Confiture.Core.Fdw;

/// <summary>
/// The comment Confiture puts on the server and schema it creates, for the DBA who finds them. It
/// proves nothing (a dump copies it, anyone can write it): ownership is the setup record
/// (<see cref="SetupRecord"/>).
/// </summary>
internal static class ConfitureMarker
{
    public const string Comment = "Created by Confiture; Remove-ConfitureFdw drops it.";
}
