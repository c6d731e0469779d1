<#
    Dependency isolation: a module that ships another Npgsql (8.0.5) and Confiture (Npgsql 10) work
    in the same PowerShell session, whichever is imported first, each with its own Npgsql loaded.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force

    $otherVersion = '8.0.5'
    $confitureNpgsql = [Reflection.AssemblyName]::GetAssemblyName((Join-Path (Split-Path (Get-ModuleManifestPath)) 'Dependencies/Npgsql.dll')).Version.ToString()

    # A tiny binary module with a cmdlet that connects with its own Npgsql, built outside the
    # repository so that none of its build settings apply.
    $work = Join-Path ([IO.Path]::GetTempPath()) ('confiture-other-npgsql-' + [Guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $work | Out-Null
    Set-Content -LiteralPath (Join-Path $work 'OtherNpgsqlModule.csproj') -Value @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net8.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Npgsql" Version="$otherVersion" />
    <PackageReference Include="PowerShellStandard.Library" Version="5.1.1" PrivateAssets="all" ExcludeAssets="runtime" />
  </ItemGroup>
</Project>
"@
    Set-Content -LiteralPath (Join-Path $work 'GetOtherNpgsqlCommand.cs') -Value @'
using System.Management.Automation;
using Npgsql;

namespace OtherNpgsqlModule;

[Cmdlet(VerbsCommon.Get, "OtherNpgsql")]
public sealed class GetOtherNpgsqlCommand : PSCmdlet
{
    [Parameter(Mandatory = true)]
    public string ConnectionString { get; set; } = "";

    protected override void ProcessRecord()
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand("SELECT current_setting('server_version_num')", connection);
        var result = new PSObject();
        result.Properties.Add(new PSNoteProperty("NpgsqlVersion", typeof(NpgsqlConnection).Assembly.GetName().Version!.ToString()));
        result.Properties.Add(new PSNoteProperty("ServerVersionNum", (string)command.ExecuteScalar()!));
        WriteObject(result);
    }
}
'@
    $publish = Join-Path $work 'module'
    $build = & dotnet publish (Join-Path $work 'OtherNpgsqlModule.csproj') -c Release -o $publish --nologo -v q 2>&1
    if ($LASTEXITCODE -ne 0) { throw "Building the module with Npgsql $otherVersion failed: $($build -join [Environment]::NewLine)" }
    $otherModule = Join-Path $publish 'OtherNpgsqlModule.dll'

    function Invoke-SideBySide([switch] $ConfitureFirst) {
        $script = @'
$ErrorActionPreference = 'Stop'
$results = [ordered]@{}
if ($env:CONFITURE_FIRST -eq '1') {
    Import-Module $env:CONFITURE_MODULE
    $results.ConfitureBefore = (Connect-ConfitureDatabase -ConnectionString $env:CONFITURE_TEST_SOURCE).ServerVersion
}
Import-Module $env:OTHER_MODULE
$results.OtherBefore = Get-OtherNpgsql -ConnectionString $env:CONFITURE_TEST_SOURCE
Import-Module $env:CONFITURE_MODULE
$results.Confiture = (Connect-ConfitureDatabase -ConnectionString $env:CONFITURE_TEST_SOURCE).ServerVersion
$results.OtherAfter = Get-OtherNpgsql -ConnectionString $env:CONFITURE_TEST_SOURCE
$results.Loaded = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Npgsql' } | ForEach-Object {
    [ordered]@{ Version = $_.GetName().Version.ToString(); Context = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($_).Name }
})
'<json>' + ($results | ConvertTo-Json -Depth 5 -Compress)
'@
        $child = Invoke-ChildPwsh -Script $script -Environment @{
            OTHER_MODULE          = $otherModule
            CONFITURE_MODULE      = Get-ModuleManifestPath
            CONFITURE_TEST_SOURCE = $env:CONFITURE_TEST_SOURCE
            CONFITURE_FIRST       = if ($ConfitureFirst) { '1' } else { '0' }
        }
        $child.ExitCode | Should -Be 0 -Because $child.Text
        $line = ($child.Output -split "`r?`n") | Where-Object { $_.StartsWith('<json>') } | Select-Object -Last 1
        $line | Should -Not -BeNullOrEmpty -Because $child.Text
        $line.Substring(6) | ConvertFrom-Json
    }
}

AfterAll {
    if ($work) { Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction Ignore }
}

Describe 'Confiture beside a module that ships Npgsql 8.0.5' {
    It 'works when the other module is imported first, each with its own Npgsql' {
        $result = Invoke-SideBySide
        $result.OtherBefore.NpgsqlVersion | Should -Be "$otherVersion.0"
        $result.OtherBefore.ServerVersionNum | Should -Match '^\d{5,6}$'
        $result.Confiture | Should -Match '^\d+\.\d+'
        $result.OtherAfter.NpgsqlVersion | Should -Be "$otherVersion.0"
        $loaded = @($result.Loaded)
        $loaded.Count | Should -Be 2
        ($loaded | Where-Object Version -EQ "$otherVersion.0").Context | Should -Be 'Default'
        ($loaded | Where-Object Version -EQ $confitureNpgsql).Context | Should -Be 'Confiture.Dependencies'
    }

    It 'works when Confiture is imported first' {
        $result = Invoke-SideBySide -ConfitureFirst
        $result.ConfitureBefore | Should -Match '^\d+\.\d+'
        $result.OtherBefore.NpgsqlVersion | Should -Be "$otherVersion.0"
        $result.Confiture | Should -Match '^\d+\.\d+'
        $result.OtherAfter.NpgsqlVersion | Should -Be "$otherVersion.0"
        @($result.Loaded).Version | Sort-Object | Should -Be (@("$otherVersion.0", $confitureNpgsql) | Sort-Object)
    }
}
