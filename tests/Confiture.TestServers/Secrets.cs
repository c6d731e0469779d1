using System.Security.Cryptography;

namespace Confiture.TestServers;

internal static class Secrets
{
    private const string Alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    private const string LowerHex = "0123456789abcdef";

    public static string Password() => RandomNumberGenerator.GetString(Alphanumeric, 32);

    public static string Suffix(int length) => RandomNumberGenerator.GetString(LowerHex, length);
}
