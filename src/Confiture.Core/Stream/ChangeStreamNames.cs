using System.Security.Cryptography;
using System.Text;
using Confiture.Core.Fdw;

namespace Confiture.Core.Stream;

/// <summary>
/// The name of a session's publication and slot on the source: one per target database and
/// foreign server, so two sessions never share a slot, and the same session set up again (after a
/// crash, in a new process) finds its own. Slot names allow only lower-case letters, digits and
/// underscores, up to 63 bytes.
/// </summary>
internal static class ChangeStreamNames
{
    public const string Prefix = "confiture_";

    public static string For(SetupRecord.Identity target, string serverName)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{target}/{serverName}"));
        return Prefix + Convert.ToHexString(hash, 0, 8).ToLowerInvariant();
    }
}
