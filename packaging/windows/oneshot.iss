; Inno Setup script for OneShot, driven by packaging/build.py:
;   ISCC /DVersion=0.1.0 /DBundle=dist\bundle\oneshot /Odist packaging\windows\oneshot.iss
#ifndef Version
  #define Version "0.0.0"
#endif
#ifndef Bundle
  #define Bundle "..\..\dist\bundle\oneshot"
#endif

[Setup]
AppId={{6F1E2C9A-3B7D-4D55-9B0E-0E5D2B1A7C41}
AppName=OneShot
AppVersion={#Version}
AppPublisher=OneShot developers
DefaultDirName={autopf}\OneShot
DefaultGroupName=OneShot
OutputBaseFilename=OneShot-{#Version}-setup
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
UninstallDisplayIcon={app}\oneshot.exe

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\OneShot"; Filename: "{app}\oneshot.exe"; Parameters: "gui"
Name: "{autodesktop}\OneShot"; Filename: "{app}\oneshot.exe"; Parameters: "gui"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\oneshot.exe"; Parameters: "gui"; Description: "Start OneShot"; Flags: nowait postinstall skipifsilent
